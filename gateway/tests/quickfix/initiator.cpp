// A QuickFIX C++ FIX 4.4 initiator that drives one order through tickwarp's acceptor:
// Logon (with Username/Password), NewOrderSingle, OrderCancelReplaceRequest,
// OrderCancelRequest, then Logout. Built and run by gateway/tests/quickfix_interop.rs.
//
// With `RetailScript=Y` in the settings' [DEFAULT] section a second part runs before the
// Logout: NewOrderSingle ORD4 (buy 10 @ 12.0, meant to rest), OrderStatusRequest (H)
// for ORD4 and for an unknown ClOrdID, then OrderMassCancelRequest (q) for all orders,
// answered by OrderMassCancelReport (r) and ORD4's cancel.
//
// Usage: initiator SETTINGS_FILE
//
// Every ExecutionReport reaches fromApp only after QuickFIX has validated it against the
// data dictionary named in the settings (types, enumerations, required fields, tags
// defined for the message); an invalid one makes QuickFIX send a session-level Reject
// instead. The program counts Rejects (35=3) and BusinessMessageRejects (35=j) in both
// directions and fails if there is any.
//
// Output on stdout, one line per event the test checks:
//   EXEC cl=<ClOrdID> orig=<OrigClOrdID> type=<ExecType> status=<OrdStatus> qty=<OrderQty>
//        px=<Price> last=<LastQty> leaves=<LeavesQty> cum=<CumQty> avg=<AvgPx>
//        rej=<OrdRejReason> req=<OrdStatusReqID>
//   MASSCANCEL cl=<ClOrdID> response=<MassCancelResponse> affected=<TotalAffectedOrders>
//   RESULT ok rejects_sent=0 rejects_received=0     (exit status 0)
//   RESULT fail <reason> ...                          (exit status 1)
// QuickFIX's screen log (every message in and out) is interleaved for diagnosis.
//
// Compile: g++ -std=c++14 initiator.cpp $(pkg-config --cflags --libs quickfix) -pthread
// (QuickFIX 1.15's throw() specifications do not compile as C++17).

#include <quickfix/Application.h>
#include <quickfix/Log.h>
#include <quickfix/MessageStore.h>
#include <quickfix/Session.h>
#include <quickfix/SessionSettings.h>
#include <quickfix/SocketInitiator.h>
#include <quickfix/fix44/ExecutionReport.h>
#include <quickfix/fix44/NewOrderSingle.h>
#include <quickfix/fix44/OrderCancelReplaceRequest.h>
#include <quickfix/fix44/OrderCancelRequest.h>
#include <quickfix/fix44/OrderMassCancelReport.h>
#include <quickfix/fix44/OrderMassCancelRequest.h>
#include <quickfix/fix44/OrderStatusRequest.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

namespace {

// One ExecutionReport as received.
struct Exec {
  std::string cl_ord_id;
  char exec_type;
  char ord_status;
  std::string ord_rej_reason;
};

// One OrderMassCancelReport as received.
struct MassCancel {
  std::string cl_ord_id;
  char response;
  std::string affected;
};

// Returns the value of `tag` in `message` or an empty string.
std::string field(const FIX::FieldMap& message, int tag) {
  return message.isSetField(tag) ? message.getField(tag) : std::string();
}

class Client : public FIX::Application {
 public:
  explicit Client(const FIX::SessionSettings& settings) : settings_(settings) {}

  void onCreate(const FIX::SessionID&) override {}

  void onLogon(const FIX::SessionID& id) override {
    std::lock_guard<std::mutex> lock(mutex_);
    session_ = id;
    logged_on_ = true;
    changed_.notify_all();
  }

  void onLogout(const FIX::SessionID&) override {
    std::lock_guard<std::mutex> lock(mutex_);
    logged_out_ = true;
    changed_.notify_all();
  }

  void toAdmin(FIX::Message& message, const FIX::SessionID& id) override {
    const std::string type = message.getHeader().getField(FIX::FIELD::MsgType);
    if (type == FIX::MsgType_Logon) {
      // FIX 4.4 Logon (A): Username (553) and Password (554) from the settings.
      const FIX::Dictionary& dict = settings_.get(id);
      if (dict.has("Username")) {
        message.setField(FIX::Username(dict.getString("Username")));
      }
      if (dict.has("Password")) {
        message.setField(FIX::Password(dict.getString("Password")));
      }
    } else if (type == FIX::MsgType_Reject) {
      std::lock_guard<std::mutex> lock(mutex_);
      ++rejects_sent_;
      failure_ = "QuickFIX rejected a message from the acceptor: " +
                 field(message, FIX::FIELD::Text);
      changed_.notify_all();
    }
  }

  void toApp(FIX::Message&, const FIX::SessionID&) throw(FIX::DoNotSend) override {}

  void fromAdmin(const FIX::Message& message, const FIX::SessionID&) throw(
      FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue,
      FIX::RejectLogon) override {
    const std::string type = message.getHeader().getField(FIX::FIELD::MsgType);
    if (type == FIX::MsgType_Reject) {
      std::lock_guard<std::mutex> lock(mutex_);
      ++rejects_received_;
      failure_ = "the acceptor rejected a message: " + field(message, FIX::FIELD::Text);
      changed_.notify_all();
    }
  }

  void fromApp(const FIX::Message& message, const FIX::SessionID&) throw(
      FIX::FieldNotFound, FIX::IncorrectDataFormat, FIX::IncorrectTagValue,
      FIX::UnsupportedMessageType) override {
    const std::string type = message.getHeader().getField(FIX::FIELD::MsgType);
    std::lock_guard<std::mutex> lock(mutex_);
    if (type == FIX::MsgType_ExecutionReport) {
      // Typed getters: each throws if the field is absent or does not parse.
      FIX::ExecType exec_type;
      FIX::OrdStatus ord_status;
      FIX::LeavesQty leaves;
      FIX::CumQty cum;
      FIX::AvgPx avg;
      message.getField(exec_type);
      message.getField(ord_status);
      message.getField(leaves);
      message.getField(cum);
      message.getField(avg);
      Exec exec{field(message, FIX::FIELD::ClOrdID), exec_type.getValue(),
                ord_status.getValue(), field(message, FIX::FIELD::OrdRejReason)};
      std::cout << "EXEC cl=" << exec.cl_ord_id
                << " orig=" << field(message, FIX::FIELD::OrigClOrdID)
                << " type=" << exec.exec_type << " status=" << exec.ord_status
                << " qty=" << field(message, FIX::FIELD::OrderQty)
                << " px=" << field(message, FIX::FIELD::Price)
                << " last=" << field(message, FIX::FIELD::LastQty)
                << " leaves=" << leaves.getValue() << " cum=" << cum.getValue()
                << " avg=" << avg.getValue() << " rej=" << exec.ord_rej_reason
                << " req=" << field(message, FIX::FIELD::OrdStatusReqID) << std::endl;
      execs_.push_back(exec);
    } else if (type == FIX::MsgType_OrderMassCancelReport) {
      // ClOrdID (11) and TotalAffectedOrders (533) are optional in FIX 4.4: printed
      // empty when absent; MassCancelResponse (531) is required.
      const FIX44::OrderMassCancelReport report(message);
      FIX::MassCancelResponse response;
      report.get(response);
      std::string affected;
      if (report.isSetField(FIX::FIELD::TotalAffectedOrders)) {
        FIX::TotalAffectedOrders total;
        report.get(total);
        affected = std::to_string(total.getValue());
      }
      MassCancel mass{field(report, FIX::FIELD::ClOrdID), response.getValue(), affected};
      std::cout << "MASSCANCEL cl=" << mass.cl_ord_id << " response=" << mass.response
                << " affected=" << mass.affected << std::endl;
      mass_cancels_.push_back(mass);
    } else {
      ++rejects_received_;
      failure_ = "unexpected application message " + type + ": " +
                 field(message, FIX::FIELD::Text);
    }
    changed_.notify_all();
  }

  // Waits until `done` holds (under the lock), a failure is recorded, or `timeout`
  // passes; returns whether `done` holds.
  bool wait_for(const std::function<bool()>& done, std::chrono::seconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait_for(lock, timeout, [&] { return done() || !failure_.empty(); });
    return done() && failure_.empty();
  }

  bool logged_on() const { return logged_on_; }
  bool logged_out() const { return logged_out_; }

  // Whether an ExecutionReport for `cl_ord_id` with `exec_type` arrived.
  bool has_exec(const std::string& cl_ord_id, char exec_type) const {
    for (const Exec& e : execs_) {
      if (e.cl_ord_id == cl_ord_id && e.exec_type == exec_type) return true;
    }
    return false;
  }

  // Whether an ExecutionReport for `cl_ord_id` with `exec_type`, `ord_status` and
  // OrdRejReason `ord_rej_reason` (empty: absent) arrived.
  bool has_exec(const std::string& cl_ord_id, char exec_type, char ord_status,
                const std::string& ord_rej_reason) const {
    for (const Exec& e : execs_) {
      if (e.cl_ord_id == cl_ord_id && e.exec_type == exec_type &&
          e.ord_status == ord_status && e.ord_rej_reason == ord_rej_reason) {
        return true;
      }
    }
    return false;
  }

  // Whether an OrderMassCancelReport for `cl_ord_id` arrived.
  bool has_mass_cancel(const std::string& cl_ord_id) const {
    for (const MassCancel& m : mass_cancels_) {
      if (m.cl_ord_id == cl_ord_id) return true;
    }
    return false;
  }

  FIX::SessionID session() {
    std::lock_guard<std::mutex> lock(mutex_);
    return session_;
  }

  std::string summary() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::ostringstream out;
    out << "rejects_sent=" << rejects_sent_ << " rejects_received=" << rejects_received_
        << " execs=" << execs_.size() << " mass_cancels=" << mass_cancels_.size();
    if (!failure_.empty()) out << " failure=" << failure_;
    return out.str();
  }

  bool clean() {
    std::lock_guard<std::mutex> lock(mutex_);
    return failure_.empty() && rejects_sent_ == 0 && rejects_received_ == 0;
  }

 private:
  const FIX::SessionSettings& settings_;
  std::mutex mutex_;
  std::condition_variable changed_;
  FIX::SessionID session_;
  bool logged_on_ = false;
  bool logged_out_ = false;
  std::vector<Exec> execs_;
  std::vector<MassCancel> mass_cancels_;
  int rejects_sent_ = 0;
  int rejects_received_ = 0;
  std::string failure_;
};

// The second part of the script (RetailScript=Y): a resting order ORD4, an
// OrderStatusRequest for it and one for an unknown ClOrdID, then an
// OrderMassCancelRequest for all orders that cancels ORD4. Returns an empty string or
// what went wrong.
std::string run_retail_script(Client& client, const FIX::SessionID& id,
                              std::chrono::seconds timeout) {
  FIX44::NewOrderSingle order(FIX::ClOrdID("ORD4"), FIX::Side(FIX::Side_BUY),
                              FIX::TransactTime(3), FIX::OrdType(FIX::OrdType_LIMIT));
  order.set(FIX::Account("42"));
  order.set(FIX::Symbol("ACME"));
  order.set(FIX::OrderQty(10));
  order.set(FIX::Price(12.0));
  order.set(FIX::TimeInForce(FIX::TimeInForce_DAY));
  FIX::Session::sendToTarget(order, id);
  if (!client.wait_for([&] { return client.has_exec("ORD4", FIX::ExecType_NEW); }, timeout)) {
    return "no ExecutionReport New for ORD4";
  }

  FIX44::OrderStatusRequest status(FIX::ClOrdID("ORD4"), FIX::Side(FIX::Side_BUY));
  status.set(FIX::Symbol("ACME"));
  status.set(FIX::OrdStatusReqID("STAT1"));
  FIX::Session::sendToTarget(status, id);
  if (!client.wait_for(
          [&] { return client.has_exec("ORD4", FIX::ExecType_ORDER_STATUS); }, timeout)) {
    return "no ExecutionReport OrderStatus for ORD4";
  }

  FIX44::OrderStatusRequest unknown(FIX::ClOrdID("ORD99"), FIX::Side(FIX::Side_BUY));
  unknown.set(FIX::Symbol("ACME"));
  unknown.set(FIX::OrdStatusReqID("STAT2"));
  FIX::Session::sendToTarget(unknown, id);
  if (!client.wait_for(
          [&] {
            return client.has_exec("ORD99", FIX::ExecType_ORDER_STATUS,
                                   FIX::OrdStatus_REJECTED, "5");
          },
          timeout)) {
    return "no ExecutionReport OrderStatus Rejected (unknown order) for ORD99";
  }

  FIX44::OrderMassCancelRequest mass(
      FIX::ClOrdID("MC1"),
      FIX::MassCancelRequestType(FIX::MassCancelRequestType_CANCEL_ALL_ORDERS),
      FIX::TransactTime(3));
  FIX::Session::sendToTarget(mass, id);
  if (!client.wait_for([&] { return client.has_mass_cancel("MC1"); }, timeout)) {
    return "no OrderMassCancelReport for MC1";
  }
  if (!client.wait_for([&] { return client.has_exec("ORD4", FIX::ExecType_CANCELED); },
                       timeout)) {
    return "no ExecutionReport Canceled for ORD4";
  }
  return std::string();
}

// Runs the order script once logged on (and the retail part if `retail`); returns an
// empty string or what went wrong.
std::string run_script(Client& client, std::chrono::seconds timeout, bool retail) {
  if (!client.wait_for([&] { return client.logged_on(); }, timeout)) {
    return "no Logon answer";
  }
  const FIX::SessionID id = client.session();

  FIX44::NewOrderSingle order(FIX::ClOrdID("ORD1"), FIX::Side(FIX::Side_BUY),
                              FIX::TransactTime(3), FIX::OrdType(FIX::OrdType_LIMIT));
  order.set(FIX::Account("42"));
  order.set(FIX::Symbol("ACME"));
  order.set(FIX::OrderQty(100));
  order.set(FIX::Price(12.5));
  order.set(FIX::TimeInForce(FIX::TimeInForce_DAY));
  FIX::Session::sendToTarget(order, id);
  if (!client.wait_for([&] { return client.has_exec("ORD1", FIX::ExecType_NEW); }, timeout)) {
    return "no ExecutionReport New for ORD1";
  }
  if (!client.wait_for([&] { return client.has_exec("ORD1", FIX::ExecType_TRADE); },
                       timeout)) {
    return "no ExecutionReport Trade for ORD1";
  }

  FIX44::OrderCancelReplaceRequest replace(
      FIX::OrigClOrdID("ORD1"), FIX::ClOrdID("ORD2"), FIX::Side(FIX::Side_BUY),
      FIX::TransactTime(3), FIX::OrdType(FIX::OrdType_LIMIT));
  replace.set(FIX::Account("42"));
  replace.set(FIX::Symbol("ACME"));
  replace.set(FIX::OrderQty(150));
  replace.set(FIX::Price(12.75));
  replace.set(FIX::TimeInForce(FIX::TimeInForce_DAY));
  FIX::Session::sendToTarget(replace, id);
  if (!client.wait_for([&] { return client.has_exec("ORD2", FIX::ExecType_REPLACED); },
                       timeout)) {
    return "no ExecutionReport Replaced for ORD2";
  }

  FIX44::OrderCancelRequest cancel(FIX::OrigClOrdID("ORD2"), FIX::ClOrdID("ORD3"),
                                   FIX::Side(FIX::Side_BUY), FIX::TransactTime(3));
  cancel.set(FIX::Account("42"));
  cancel.set(FIX::Symbol("ACME"));
  cancel.set(FIX::OrderQty(150));
  FIX::Session::sendToTarget(cancel, id);
  if (!client.wait_for([&] { return client.has_exec("ORD3", FIX::ExecType_CANCELED); },
                       timeout)) {
    return "no ExecutionReport Canceled for ORD3";
  }

  if (retail) {
    const std::string error = run_retail_script(client, id, timeout);
    if (!error.empty()) return error;
  }

  FIX::Session* session = FIX::Session::lookupSession(id);
  if (session == nullptr) return "session disappeared";
  session->logout("done");
  if (!client.wait_for([&] { return client.logged_out(); }, timeout)) {
    return "no Logout answer";
  }
  return std::string();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: " << argv[0] << " SETTINGS_FILE" << std::endl;
    return 2;
  }
  try {
    FIX::SessionSettings settings(argv[1]);
    const FIX::Dictionary& defaults = settings.get();
    const std::chrono::seconds timeout(
        defaults.has("ScriptTimeout") ? defaults.getInt("ScriptTimeout") : 10);
    const bool retail = defaults.has("RetailScript") && defaults.getBool("RetailScript");
    Client client(settings);
    FIX::MemoryStoreFactory store;
    FIX::ScreenLogFactory log(true, true, true);
    FIX::SocketInitiator initiator(client, store, settings, log);
    initiator.start();
    const std::string error = run_script(client, timeout, retail);
    initiator.stop();
    const std::string summary = client.summary();
    if (!error.empty() || !client.clean()) {
      std::cout << "RESULT fail " << (error.empty() ? "rejects" : error) << " " << summary
                << std::endl;
      return 1;
    }
    std::cout << "RESULT ok " << summary << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::cout << "RESULT fail exception: " << e.what() << std::endl;
    return 1;
  }
}
