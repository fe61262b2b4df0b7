#pragma once
// Progress of a long stage: rate and ETA. On a terminal one status line on stderr is rewritten in place
// (at most every 0.2 s); otherwise (logs, CI, pipes) a line goes to the log every `log_period_s` seconds,
// plus the final one. DSX_PROGRESS=tty|log|off overrides the terminal detection.
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

namespace dsx {

class ProgressLine {
 public:
  using Log = std::function<void(const std::string&)>;
  using Clock = std::function<double()>;  // seconds; injectable for tests
  enum class Mode { Terminal, Log, Off };

  ProgressLine(std::string label, std::string unit, int64_t total, Log log, double log_period_s = 10.0);
  ~ProgressLine();  // writes the final line if not done yet
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  void advance(int64_t n);                   // thread-safe
  void update(int64_t done, int64_t total);  // absolute counts (callbacks that report done/total)
  void finish();                             // the final line: total, time, mean rate
  void set_mode(Mode m) { mode_ = m; }
  void set_clock(Clock c);  // also restarts the timer

  // "1234/10000 samples (12%), 250 samples/s, ETA 35 s"
  static std::string status(const std::string& unit, int64_t done, int64_t total, double seconds);
  static std::string duration_text(double seconds);  // "35 s", "4 min 05 s", "2 h 03 min"
  static Mode mode_from_environment();

 private:
  void report(bool final);
  std::string label_, unit_;
  int64_t total_, done_ = 0;
  Log log_;
  double period_, start_ = 0, last_emit_ = 0;
  Clock clock_;
  Mode mode_;
  bool finished_ = false, drew_terminal_ = false;
  std::mutex mutex_;
};

// Peak resident memory of this process so far, in MiB (getrusage): what benchmarks of long stages report.
double peak_rss_mib();

}  // namespace dsx
