#include "pipeline/report.h"

#include <cmath>
#include <fstream>
#include <map>
#include <set>

#include <fmt/format.h>

#include "core/subprocess.h"
#include "metrics/registry.h"
#include "pipeline/run_dir.h"

namespace dsx {

std::string MetricRow::method() const {
  // Sweep variants of one predictor stage ("amed[num_steps=4]") share a row: their NFE differ.
  std::string stage_name = predictor.substr(0, predictor.find('['));
  std::string m = predictor.empty()
                      ? solver
                      : fmt::format("AMED-{} ({})", solver == "amed" ? "Solver" : "Plugin " + solver, stage_name);
  if (!options.empty()) m += " [" + options + "]";
  return m + " / " + schedule;
}

bool MetricRow::learned() const { return !predictor.empty() || schedule.rfind(kLearnedSchedulePrefix, 0) == 0; }

nlohmann::json to_json(const MetricRow& r) {
  return {{"stage", r.stage}, {"solver", r.solver},       {"options", r.options}, {"schedule", r.schedule},
          {"nfe", r.nfe},     {"predictor", r.predictor}, {"metric", r.metric},   {"value", r.value}};
}

MetricRow row_from_json(const nlohmann::json& j) {
  MetricRow r;
  r.stage = j.value("stage", "");
  r.solver = j.at("solver");
  r.schedule = j.at("schedule");
  r.nfe = j.at("nfe");
  r.predictor = j.value("predictor", "");
  r.options = j.value("options", "");
  r.metric = j.at("metric");
  r.value = j.at("value").is_number() ? j.at("value").get<double>() : NAN;
  return r;
}

std::string metrics_csv(const std::vector<MetricRow>& rows) {
  std::string s = "stage,solver,options,schedule,nfe,predictor,learned,metric,value\n";
  for (const auto& r : rows)  // options hold no commas ("k=v k=v"), labels none either
    s += fmt::format("{},{},{},{},{},{},{},{},{:.10g}\n", r.stage, r.solver, r.options, r.schedule, r.nfe, r.predictor,
                     r.learned() ? 1 : 0, r.metric, r.value);
  return s;
}

std::string report_markdown(const std::string& title, const std::vector<MetricRow>& rows,
                            const std::vector<int64_t>& nfe_columns, const std::vector<std::string>& plots) {
  std::string md = fmt::format("# {}\n\n", title);
  std::vector<std::string> metrics;
  for (const auto& r : rows)
    if (std::find(metrics.begin(), metrics.end(), r.metric) == metrics.end()) metrics.push_back(r.metric);
  for (const auto& metric : metrics) {
    std::set<int64_t> nfes(nfe_columns.begin(), nfe_columns.end());
    if (nfes.empty())
      for (const auto& r : rows)
        if (r.metric == metric && r.solver != kExactData) nfes.insert(r.nfe);
    std::vector<std::string> methods;
    std::map<std::pair<std::string, int64_t>, double> cell;
    std::string floor;
    for (const auto& r : rows) {
      if (r.metric != metric) continue;
      if (r.solver == kExactData) {
        // The options of a floor row name its data when it is not the model's own (an image dataset).
        floor = fmt::format(
            "{}, as many as the evaluated seeds: {:.4g} (the value a perfect sampler gets, up to sampling "
            "noise).\n\n",
            r.options.empty() ? "Exact data samples" : "Data images (" + r.options + ")", r.value);
        continue;
      }
      if (std::find(methods.begin(), methods.end(), r.method()) == methods.end()) methods.push_back(r.method());
      cell[{r.method(), r.nfe}] = r.value;
    }
    md += fmt::format("## {} ({})\n\n| Method |", metric, direction_text(metric_direction(metric)));
    for (auto n : nfes) md += fmt::format(" NFE {} |", n);
    md += "\n|---|";
    for (size_t i = 0; i < nfes.size(); ++i) md += "---:|";
    md += "\n";
    const bool higher = metric_direction(metric) == MetricDirection::HigherIsBetter;
    std::map<int64_t, double> best;
    for (const auto& [k, v] : cell)
      if (!best.count(k.second) || (higher ? v > best[k.second] : v < best[k.second])) best[k.second] = v;
    for (const auto& m : methods) {
      md += "| " + m + " |";
      for (auto n : nfes) {
        auto it = cell.find({m, n});
        if (it == cell.end())
          md += " – |";
        else if (it->second == best[n])
          md += fmt::format(" **{:.4g}** |", it->second);
        else
          md += fmt::format(" {:.4g} |", it->second);
      }
      md += "\n";
    }
    md += "\n" + floor;
  }
  for (const auto& p : plots) md += fmt::format("![{}]({})\n\n", p, p);
  return md;
}

namespace {

// Ten distinct colours (Tableau 10) and thirteen gnuplot point types: series i gets colour i mod 10 and
// marker i mod 13, so no two of the first 130 series look alike.
constexpr const char* kColours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
constexpr int kPointTypes[] = {7, 5, 9, 11, 13, 15, 1, 2, 3, 4, 6, 8, 10};

}  // namespace

// The legend below the axes (the plot keeps its width, the canvas grows with the entries), log y when the
// values spread over more than 20×, log x when asked.
std::string run_gnuplot(const std::string& dir, const std::string& stem, const std::string& title,
                        const std::string& xlabel, const std::string& ylabel, const std::vector<Series>& series,
                        bool log_x, std::string* warning) {
  if (run_shell("command -v gnuplot >/dev/null 2>&1") != 0) {
    *warning = "gnuplot not found: skipping the plot";
    return "";
  }
  std::string dat, plot;
  double lo = INFINITY, hi = 0;
  for (size_t i = 0; i < series.size(); ++i) {
    dat += "# " + series[i].title + "\n";
    for (const auto& [x, y] : series[i].points) {
      dat += fmt::format("{:.10g} {:.10g}\n", x, y);
      if (y > 0) lo = std::min(lo, y), hi = std::max(hi, y);
    }
    dat += "\n\n";
    plot += fmt::format("{}'{}.dat' index {} with linespoints lw 1.5 lc rgb '{}' pt {} ps 1.2 title \"{}\"",
                        i ? ", " : "", stem, i, kColours[i % 10], kPointTypes[i % 13], series[i].title);
  }
  if (series.empty()) return "";
  write_text(dir + "/" + stem + ".dat", dat);
  const int64_t legend_rows = int64_t(series.size() + 1) / 2;
  const bool log_y = lo > 0 && hi / lo > 20;
  std::string gp = fmt::format(
      "set terminal pngcairo size 1000,{} noenhanced\nset output '{}.png'\nset title '{}'\nset xlabel '{}'\n"
      "set ylabel '{}'\n{}{}set key below maxcols 2 width -6\nset grid\nplot {}\n",
      560 + 22 * legend_rows, stem, title, xlabel, ylabel, log_y ? "set logscale y\n" : "",
      log_x ? "set logscale x\n" : "", plot);
  write_text(dir + "/" + stem + ".gp", gp);
  std::string cmd = fmt::format("cd '{}' && gnuplot '{}.gp' > '{}.gnuplot.log' 2>&1", dir, stem, stem);
  if (run_shell(cmd) != 0) {
    cmd = fmt::format("cd '{}' && sed -i 's/pngcairo/png/' '{}.gp' && gnuplot '{}.gp' >> '{}.gnuplot.log' 2>&1", dir,
                      stem, stem, stem);
    if (run_shell(cmd) != 0) {
      *warning = fmt::format("gnuplot failed (see {}/{}.gnuplot.log): skipping the plot", dir, stem);
      return "";
    }
  }
  return stem + ".png";
}

std::string plot_metric(const std::string& dir, const std::string& stem, const std::string& metric,
                        const std::vector<MetricRow>& rows, std::string* warning) {
  std::map<std::string, std::map<int64_t, double>> by_method;
  for (const auto& r : rows)
    if (r.metric == metric && r.solver != kExactData && std::isfinite(r.value)) by_method[r.method()][r.nfe] = r.value;
  std::vector<Series> series;
  for (const auto& [m, pts] : by_method) {
    series.push_back({m, {}});
    for (const auto& [n, v] : pts) series.back().points.emplace_back(double(n), v);
  }
  return run_gnuplot(dir, stem, metric + " vs NFE", "NFE", metric, series, false, warning);
}

std::string plot_metric_vs_time(const std::string& dir, const std::string& stem, const std::string& metric,
                                const std::vector<MetricRow>& rows, std::string* warning) {
  // (method, NFE) → wall seconds and metric value: one point per NFE, joined in NFE order.
  std::map<std::string, std::map<int64_t, std::pair<double, double>>> by_method;
  for (const auto& r : rows) {
    if (r.solver == kExactData || !std::isfinite(r.value)) continue;
    if (r.metric == "wall_seconds") by_method[r.method()][r.nfe].first = r.value;
    if (r.metric == metric) by_method[r.method()][r.nfe].second = r.value;
  }
  std::vector<Series> series;
  for (const auto& [m, pts] : by_method) {
    Series s{m, {}};
    for (const auto& [n, tv] : pts)
      if (tv.first > 0 && tv.second != 0) s.points.push_back(tv);
    if (!s.points.empty()) series.push_back(std::move(s));
  }
  return run_gnuplot(dir, stem, metric + " vs sampling wall time (points: NFE)", "wall seconds", metric, series, true,
                     warning);
}

}  // namespace dsx
