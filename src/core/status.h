#pragma once
// Status and Result<T>: how every NeuroNaut module reports expected failures.
//
// Status is an error code plus a message written for the user ("config: [llm] base_url
// 'htp://x' is not an http(s) URL"). Result<T> holds either a T or a non-ok Status and is
// shaped like std::expected: has_value(), value(), error(), operator*, operator->.
// Both are plain values; they are safe to copy and move between threads.

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace naut {

enum class Code {
  kOk = 0,
  kInvalidArgument,  // the caller (or user input) is wrong
  kNotFound,         // a named thing does not exist
  kAlreadyExists,
  kPermissionDenied,    // refused by policy or by the operating system
  kFailedPrecondition,  // the system is not in a state where this can run
  kUnavailable,         // a peer (server, process) cannot be reached; retrying may help
  kDeadlineExceeded,    // a time limit passed
  kCancelled,
  kResourceExhausted,  // a budget, quota or size cap was hit
  kDataLoss,           // stored data is corrupt or truncated
  kUnimplemented,      // not built (yet); the message says what is missing
  kInternal,           // a bug in NeuroNaut
};

std::string_view CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // "not found: tool 'x'" form, for logs and CLI output.
  std::string ToString() const;

  // Returns a copy whose message is "<context>: <message>".
  Status WithContext(std::string_view context) const;

  friend bool operator==(const Status&, const Status&) = default;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
inline Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
inline Status AlreadyExists(std::string m) { return {Code::kAlreadyExists, std::move(m)}; }
inline Status PermissionDenied(std::string m) { return {Code::kPermissionDenied, std::move(m)}; }
inline Status FailedPrecondition(std::string m) {
  return {Code::kFailedPrecondition, std::move(m)};
}
inline Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
inline Status DeadlineExceeded(std::string m) { return {Code::kDeadlineExceeded, std::move(m)}; }
inline Status Cancelled(std::string m) { return {Code::kCancelled, std::move(m)}; }
inline Status ResourceExhausted(std::string m) { return {Code::kResourceExhausted, std::move(m)}; }
inline Status DataLoss(std::string m) { return {Code::kDataLoss, std::move(m)}; }
inline Status Unimplemented(std::string m) { return {Code::kUnimplemented, std::move(m)}; }
inline Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }

// Holds a T or an error Status. Constructing from an ok Status is a programmer error.
template <typename T>
class [[nodiscard]] Result {
 public:
  using value_type = T;

  Result(const T& value) : v_(value) {}          // NOLINT(google-explicit-constructor)
  Result(T&& value) : v_(std::move(value)) {}    // NOLINT(google-explicit-constructor)
  Result(Status error) : v_(std::move(error)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(v_).ok() && "Result built from an ok Status");
  }
  // From a value. The requires clause leaves copies and moves of Result to their own
  // constructors.
  template <typename U>
  requires(std::is_constructible_v<T, U&&> && !std::is_same_v<std::decay_t<U>, T> &&
           !std::is_same_v<std::decay_t<U>, Status> && !std::is_same_v<std::decay_t<U>, Result<T>>)
      Result(U&& value)                   // NOLINT(bugprone-forwarding-reference-overload)
      : v_(T(std::forward<U>(value))) {}  // NOLINT(google-explicit-constructor)

  bool has_value() const { return v_.index() == 0; }
  bool ok() const { return has_value(); }
  explicit operator bool() const { return has_value(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T value_or(T fallback) const& { return has_value() ? value() : std::move(fallback); }

  // The error; Status::Ok() when a value is held.
  Status error() const { return has_value() ? Status::Ok() : std::get<1>(v_); }
  Status status() const { return error(); }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace naut

namespace naut::internal {
inline Status ToStatus(const Status& s) { return s; }
template <typename T>
Status ToStatus(const Result<T>& r) {
  return r.error();
}
}  // namespace naut::internal

#define NAUT_CONCAT_INNER_(a, b) a##b
#define NAUT_CONCAT_(a, b) NAUT_CONCAT_INNER_(a, b)

// Returns the error of a Status or Result expression from the enclosing function.
#define NAUT_RETURN_IF_ERROR(expr)                                           \
  do {                                                                       \
    auto&& naut_status_ = (expr);                                            \
    if (!naut_status_.ok()) return ::naut::internal::ToStatus(naut_status_); \
  } while (0)

// `NAUT_ASSIGN_OR_RETURN(auto x, MakeX());` declares x from a Result or returns its error.
#define NAUT_ASSIGN_OR_RETURN(lhs, expr)                 \
  auto NAUT_CONCAT_(naut_result_, __LINE__) = (expr);    \
  if (!NAUT_CONCAT_(naut_result_, __LINE__).ok())        \
    return NAUT_CONCAT_(naut_result_, __LINE__).error(); \
  lhs = std::move(NAUT_CONCAT_(naut_result_, __LINE__)).value()  // NOLINT: lhs may declare
