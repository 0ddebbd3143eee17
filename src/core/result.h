// Result<T> and Status: the error-returning convention of every tether layer.
//
// Code on the request path never throws; it returns Result<T> (a value or an
// Error) or Status (Result<void>). Error codes form a closed set per layer and
// are stable strings (they appear in JSON errors); messages are lowercase, with
// user input in backticks, and never contain a secret.
#ifndef TETHER_CORE_RESULT_H_
#define TETHER_CORE_RESULT_H_

#include <string>
#include <utility>
#include <variant>

namespace tether {

struct Error {
  std::string code;     // stable, machine-readable, e.g. "invalid_json"
  std::string message;  // for humans; no trailing period
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  // Precondition for the accessors: ok() (resp. !ok() for error()).
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  // On an rvalue the value is moved out (not referenced), so that
  // `for (auto& x : *MakeResult())` does not outlive the temporary.
  T value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  T operator*() && { return std::move(*this).value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool ok_ = true;
};

using Status = Result<void>;

inline Error MakeError(std::string code, std::string message) {
  return Error{std::move(code), std::move(message)};
}

}  // namespace tether

#endif  // TETHER_CORE_RESULT_H_
