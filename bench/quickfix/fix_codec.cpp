// The QuickFIX C++ half of bench/src/bin/fix_codec.rs: the same FIX codec work as
// tickwarp's codec does there, timed in batches.
//
// Usage: fix_codec NOS_FILE ITERATIONS BATCH
//
// - decode: FIX::Message::setString of the NewOrderSingle bytes in NOS_FILE (no data
//   dictionary, as the gateway's codec has none), then the typed fields the gateway's
//   NewOrderSingle parse reads: ClOrdID, Account, Symbol, Side, OrderQty, OrdType,
//   Price, TimeInForce, TransactTime. One FIX::Message is reused (setString clears it).
// - encode: a FIX44::ExecutionReport built from typed fields (the 23 fields of
//   tickwarp's ExecutionReport, header included, SendingTime and TransactTime
//   formatted from a timestamp each time) and serialized with toString into a reused
//   string (BodyLength and CheckSum computed).
//
// Output, parsed by fix_codec.rs:
//   nos <the decoded fields, '|'-separated>        (correctness check)
//   report <the encoded ExecutionReport, SOH as '|'>
//   decode <BATCH> <ns of batch 1> <ns of batch 2> ...
//   encode <BATCH> <ns of batch 1> ...
//
// Compile: g++ -std=c++14 -O2 fix_codec.cpp $(pkg-config --cflags --libs quickfix)
// (QuickFIX 1.15's throw() specifications do not compile as C++17).

#include <quickfix/Message.h>
#include <quickfix/fix44/ExecutionReport.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

std::int64_t ns_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
}

// Keeps results alive so the compiler cannot drop the work.
volatile std::size_t sink;

// The NewOrderSingle fields the gateway's parse reads, typed.
struct NosFields {
  FIX::ClOrdID cl_ord_id;
  FIX::Account account;
  FIX::Symbol symbol;
  FIX::Side side;
  FIX::OrderQty qty;
  FIX::OrdType ord_type;
  FIX::Price price;
  FIX::TimeInForce tif;
  FIX::TransactTime transact_time;
};

// Parses `bytes` into `message` and reads the typed fields (each getField converts).
void decode(FIX::Message& message, const std::string& bytes, NosFields& f) {
  message.setString(bytes, false);
  message.getField(f.cl_ord_id);
  message.getField(f.account);
  message.getField(f.symbol);
  message.getField(f.side);
  message.getField(f.qty);
  message.getField(f.ord_type);
  message.getField(f.price);
  message.getField(f.tif);
  message.getField(f.transact_time);
}

// The decoded fields, '|'-separated, for the correctness check.
std::string describe(const NosFields& f) {
  std::ostringstream out;
  out << f.cl_ord_id.getValue() << '|' << f.account.getValue() << '|' << f.symbol.getValue()
      << '|' << f.side.getValue() << '|' << f.qty.getValue() << '|' << f.ord_type.getValue()
      << '|' << f.price.getValue() << '|' << f.tif.getValue() << '|'
      << f.transact_time.getString();
  return out.str();
}

// One timed decode: the typed values are converted and kept alive.
void decode_timed(FIX::Message& message, const std::string& bytes) {
  NosFields f;
  decode(message, bytes, f);
  sink = f.cl_ord_id.getValue().size() + f.account.getValue().size() +
         f.symbol.getValue().size() + static_cast<std::size_t>(f.side.getValue()) +
         static_cast<std::size_t>(f.qty.getValue()) +
         static_cast<std::size_t>(f.ord_type.getValue()) +
         static_cast<std::size_t>(f.price.getValue()) +
         static_cast<std::size_t>(f.tif.getValue()) +
         static_cast<std::size_t>(f.transact_time.getValue().getYear());
}

// 2025-11-25 10:23:53.123 UTC, the timestamp tickwarp's side writes.
const FIX::UtcTimeStamp kTime(10, 23, 53, 123, 25, 11, 2025);

// Builds and serializes the ExecutionReport into `out`.
void encode(std::string& out) {
  FIX44::ExecutionReport report(FIX::OrderID("9001"), FIX::ExecID("77"),
                                FIX::ExecType(FIX::ExecType_TRADE),
                                FIX::OrdStatus(FIX::OrdStatus_PARTIALLY_FILLED),
                                FIX::Side(FIX::Side_BUY), FIX::LeavesQty(60), FIX::CumQty(40),
                                FIX::AvgPx(12.4));
  FIX::Header& header = report.getHeader();
  header.setField(FIX::MsgSeqNum(12345));
  header.setField(FIX::SenderCompID("GW"));
  header.setField(FIX::SendingTime(kTime, 3));
  header.setField(FIX::TargetCompID("CLIENT"));
  report.set(FIX::ClOrdID("ORD1"));
  report.set(FIX::Account("42"));
  report.set(FIX::Symbol("ACME"));
  report.set(FIX::OrderQty(100));
  report.set(FIX::OrdType(FIX::OrdType_LIMIT));
  report.set(FIX::Price(12.5));
  report.set(FIX::TimeInForce(FIX::TimeInForce_DAY));
  report.set(FIX::LastQty(40));
  report.set(FIX::LastPx(12.4));
  report.set(FIX::TransactTime(kTime, 3));
  report.toString(out);
}

// Runs `op` ITERATIONS times in batches of BATCH; prints `name BATCH ns...`.
template <typename Op>
void run(const char* name, long iterations, long batch, Op op) {
  for (long i = 0; i < iterations / 10; ++i) op();  // warm-up
  std::vector<std::int64_t> batches;
  batches.reserve(static_cast<std::size_t>(iterations / batch));
  for (long done = 0; done + batch <= iterations; done += batch) {
    const Clock::time_point start = Clock::now();
    for (long i = 0; i < batch; ++i) op();
    batches.push_back(ns_since(start));
  }
  std::cout << name << ' ' << batch;
  for (std::int64_t ns : batches) std::cout << ' ' << ns;
  std::cout << '\n';
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: " << argv[0] << " NOS_FILE ITERATIONS BATCH" << std::endl;
    return 2;
  }
  std::ifstream file(argv[1], std::ios::binary);
  const std::string nos((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  const long iterations = std::atol(argv[2]);
  const long batch = std::atol(argv[3]);
  if (nos.empty() || iterations <= 0 || batch <= 0) {
    std::cerr << "empty NOS_FILE or non-positive counts" << std::endl;
    return 2;
  }
  try {
    FIX::Message message;
    NosFields fields;
    decode(message, nos, fields);
    std::cout << "nos " << describe(fields) << '\n';
    std::string out;
    encode(out);
    std::string shown = out;
    for (char& c : shown) {
      if (c == '\x01') c = '|';
    }
    std::cout << "report " << shown << '\n';

    run("decode", iterations, batch, [&] { decode_timed(message, nos); });
    run("encode", iterations, batch, [&] {
      encode(out);
      sink = out.size();
    });
    std::cout.flush();
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "QuickFIX failed: " << e.what() << std::endl;
    return 1;
  }
}
