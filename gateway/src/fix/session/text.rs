//! Text (58) values built from numbers without allocating (Logout and Reject texts).
//!
//! What it must not do: allocate or panic; text that does not fit is cut off.

/// A short text in a fixed buffer; what does not fit is dropped.
pub(super) struct TextBuf {
    buf: [u8; 96],
    len: usize,
}

impl TextBuf {
    /// The text `args` formats to, cut at the buffer's size.
    pub(super) fn from_fmt(args: core::fmt::Arguments<'_>) -> TextBuf {
        let mut text = TextBuf {
            buf: [0; 96],
            len: 0,
        };
        let _ = core::fmt::Write::write_fmt(&mut text, args);
        text
    }

    /// The text.
    pub(super) fn as_str(&self) -> &str {
        core::str::from_utf8(self.buf.get(..self.len).unwrap_or_default()).unwrap_or_default()
    }
}

impl core::fmt::Write for TextBuf {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = self.len + s.len();
        let slot = self.buf.get_mut(self.len..end).ok_or(core::fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_cuts_off_what_does_not_fit() {
        let text = TextBuf::from_fmt(format_args!("expecting {} but received {}", 7, 3));
        assert_eq!(text.as_str(), "expecting 7 but received 3");
        let long = "x".repeat(200);
        assert_eq!(TextBuf::from_fmt(format_args!("{long}")).as_str(), "");
    }
}
