// Status and Result<T>: how every per-message path reports an outcome without throwing.
// The codes match cqrs.fb.Status on the wire one for one (checked in wire/). No fmt here: the
// client's installed headers include this one (base/status.h adds Error() with fmt formatting).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "base/check.h"

namespace cqrs {

enum class Code : std::uint16_t {
  kOk = 0,
  kInvalidArgument,
  kUnauthenticated,
  kPermissionDenied,
  kNotFound,
  kAlreadyExists,
  kVersionConflict,
  kOutOfOrder,
  kResourceExhausted,
  kUnavailable,
  kDeadlineExceeded,
  kInternal,
  kOutOfRange,  // below the first seq the event log still holds
};
inline constexpr int kCodeCount = 13;

// The wire name of a code ("InvalidArgument"), as clients in every language see it.
std::string_view CodeName(Code code);

// True for outcomes a client may retry with the same request id (they are never remembered).
constexpr bool IsRetryable(Code code) {
  return code == Code::kResourceExhausted || code == Code::kUnavailable;
}

// An outcome: OK, or a code with a message naming the field, limit or native error, and the
// native error's own code (an LMDB return code or an errno; 0: none) so that callers branch on
// codes, never on message text. OK allocates nothing; an error owns its message.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message, int native = 0)
      : code_(code), native_(native), message_(std::move(message)) {}

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  // The C library's code behind the status (e.g. MDB_MAP_FULL, ENOENT), or 0.
  int native() const { return native_; }
  const std::string& message() const { return message_; }
  // "InvalidArgument: key is 600 bytes, over max_key_bytes 507"
  std::string ToString() const;

 private:
  Code code_ = Code::kOk;
  int native_ = 0;
  std::string message_;
};

inline Status OkStatus() { return Status(); }

// A value or the error that prevented it.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit by design, as absl::StatusOr
  Result(Status status) : v_(std::move(status)) {  // NOLINT
    CQRS_CHECK(!std::get<Status>(v_).ok());
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & {
    CheckOk();
    return std::get<T>(v_);
  }
  const T& value() const& {
    CheckOk();
    return std::get<T>(v_);
  }
  T&& value() && {
    CheckOk();
    return std::get<T>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

 private:
  void CheckOk() const {
    if (!ok()) [[unlikely]]
      internal::CheckFailed(__FILE__, __LINE__, "ok()",
                            "Result::value() on error: " + status().ToString());
  }

  std::variant<T, Status> v_;
};

}  // namespace cqrs

// Returns from the enclosing function if `expr` (a Status) is not OK.
#define CQRS_RETURN_IF_ERROR(expr)               \
  do {                                           \
    ::cqrs::Status cqrs_status_ = (expr);        \
    if (!cqrs_status_.ok()) return cqrs_status_; \
  } while (false)
