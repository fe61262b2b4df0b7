#pragma once
// Report artifacts from long-form metric rows: metrics.csv, a markdown report with tables laid out like
// the AMED paper (methods as rows, NFE as columns, one table per metric) and a PNG of metric vs NFE
// made with gnuplot (skipped with a warning when gnuplot is missing).
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace dsx {

// MetricRow::solver of the rows that score exact data samples (the floor of distribution metrics).
inline constexpr const char* kExactData = "exact data";

// MetricRow::schedule of rows sampled on a learned grid: "learned:<stage>" (evaluate's schedule kind learned).
inline constexpr const char* kLearnedSchedulePrefix = "learned:";

struct MetricRow {
  std::string stage, solver, schedule, predictor, metric;
  int64_t nfe = 0;
  double value = 0;
  std::string options;  // solver options the spec set, "k=v k=v" (variants of one solver differ here)
  std::string method() const;
  bool learned() const;  // a trained predictor or a learned schedule: metrics.csv's `learned` column  // "dpmpp /
                         // logsnr", "scire [phi=one] / nsr", "AMED-Solver (amed) / time_uniform"
};

nlohmann::json to_json(const MetricRow& r);
MetricRow row_from_json(const nlohmann::json& j);

// Columns stage,solver,options,schedule,nfe,predictor,learned (0/1),metric,value.
std::string metrics_csv(const std::vector<MetricRow>& rows);
// `nfe_columns` empty: every NFE present.
std::string report_markdown(const std::string& title, const std::vector<MetricRow>& rows,
                            const std::vector<int64_t>& nfe_columns, const std::vector<std::string>& plots);
// Writes <dir>/<stem>.png (and the .gp script and .dat data) for one metric; returns the PNG name or "" with
// *warning set when gnuplot is unavailable or fails.
std::string plot_metric(const std::string& dir, const std::string& stem, const std::string& metric,
                        const std::vector<MetricRow>& rows, std::string* warning);
// A line plot (gnuplot) of any series: <dir>/<stem>.png with .gp and .dat beside it; the legend below the axes,
// a distinct colour and marker per series, log y when the values span more than 20×. Returns the PNG name, or ""
// with *warning set when gnuplot is unavailable or fails.
struct Series {
  std::string title;
  std::vector<std::pair<double, double>> points;  // (x, y), in x order
};
std::string run_gnuplot(const std::string& dir, const std::string& stem, const std::string& title,
                        const std::string& xlabel, const std::string& ylabel, const std::vector<Series>& series,
                        bool log_x, std::string* warning);
// The same metric against the sampling wall time of each (method, NFE) (the `wall_seconds` rows), log x:
// what a method costs for the error it reaches.
std::string plot_metric_vs_time(const std::string& dir, const std::string& stem, const std::string& metric,
                                const std::vector<MetricRow>& rows, std::string* warning);

}  // namespace dsx
