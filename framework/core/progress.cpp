#include "core/progress.h"

#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

namespace dsx {
namespace {
constexpr double kTerminalRedraw = 0.2;  // seconds between redraws of the status line

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::mutex& terminal_mutex() {  // concurrent stages share one terminal
  static std::mutex m;
  return m;
}
}  // namespace

ProgressLine::Mode ProgressLine::mode_from_environment() {
  if (const char* v = std::getenv("DSX_PROGRESS")) {
    std::string s(v);
    if (s == "tty") return Mode::Terminal;
    if (s == "log") return Mode::Log;
    if (s == "off") return Mode::Off;
  }
  return ::isatty(::fileno(stderr)) ? Mode::Terminal : Mode::Log;
}

ProgressLine::ProgressLine(std::string label, std::string unit, int64_t total, Log log, double log_period_s)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      log_(std::move(log)),
      period_(log_period_s),
      clock_(steady_seconds),
      mode_(mode_from_environment()) {
  start_ = last_emit_ = clock_();
}

ProgressLine::~ProgressLine() {
  try {
    finish();
  } catch (...) {  // a destructor must not throw; the log is best effort here
  }
}

void ProgressLine::set_clock(Clock c) {
  std::lock_guard<std::mutex> lock(mutex_);
  clock_ = std::move(c);
  start_ = last_emit_ = clock_();
}

std::string ProgressLine::duration_text(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  if (s < 9.95) return fmt::format("{:.1f} s", s);  // short stages: whole seconds would say "0 s"
  const int64_t t = int64_t(std::llround(s));
  if (t < 60) return fmt::format("{} s", t);
  if (t < 3600) return fmt::format("{} min {:02d} s", t / 60, t % 60);
  return fmt::format("{} h {:02d} min", t / 3600, (t % 3600) / 60);
}

std::string ProgressLine::status(const std::string& unit, int64_t done, int64_t total, double seconds) {
  const double rate = seconds > 0 ? double(done) / seconds : 0.0;
  std::string s = fmt::format("{}/{} {} ({}%)", done, total, unit, total > 0 ? 100 * done / total : 100);
  if (done == 0 || seconds <= 0) return s;
  s += fmt::format(", {:.3g} {}/s", rate, unit);
  if (done < total) s += ", ETA " + duration_text(double(total - done) / rate);
  return s;
}

void ProgressLine::advance(int64_t n) {
  std::lock_guard<std::mutex> lock(mutex_);
  done_ += n;
  report(false);
}

void ProgressLine::update(int64_t done, int64_t total) {
  std::lock_guard<std::mutex> lock(mutex_);
  done_ = done;
  total_ = total;
  report(false);
}

void ProgressLine::finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (finished_) return;
  finished_ = true;
  if (total_ > 0 || done_ > 0) report(true);  // nothing was to be done (a cache hit): no line
}

void ProgressLine::report(bool final) {
  if (mode_ == Mode::Off) return;
  const double now = clock_(), elapsed = now - start_;
  if (mode_ == Mode::Terminal) {
    if (!final && now - last_emit_ < kTerminalRedraw) return;
    last_emit_ = now;
    std::lock_guard<std::mutex> lock(terminal_mutex());
    if (final) {
      if (drew_terminal_) std::fprintf(stderr, "\r\x1b[K");
      std::fflush(stderr);
    } else {
      std::fprintf(stderr, "\r\x1b[K  %s: %s", label_.c_str(), status(unit_, done_, total_, elapsed).c_str());
      std::fflush(stderr);
      drew_terminal_ = true;
      return;
    }
  } else if (!final) {
    if (now - last_emit_ < period_) return;
    last_emit_ = now;
  }
  if (log_) {
    if (final)
      log_(fmt::format("  {}: {} {} in {} ({:.3g} {}/s)", label_, done_, unit_, duration_text(elapsed),
                       elapsed > 0 ? double(done_) / elapsed : 0.0, unit_));
    else
      log_(fmt::format("  {}: {}", label_, status(unit_, done_, total_, elapsed)));
  }
}

double peak_rss_mib() {
  struct rusage u {};
  ::getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;  // Linux reports KiB
}

}  // namespace dsx
