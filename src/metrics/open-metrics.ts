import { Registry, type Metric } from 'prom-client';

type MetricData = { name: string } & Record<string, unknown>;
/** What the registry reads of a metric; histograms render through getForPromString. */
type AnyMetric = { name: string; type: string; help: string; get(): Promise<MetricData>; getForPromString?: () => Promise<MetricData> };

/**
 * Renders a Prometheus-format registry as OpenMetrics without touching its metrics.
 *
 * prom-client 15's OpenMetrics `Registry.metrics()` strips `_total` from every counter by
 * assigning `metric.name` on the metric object itself. With one set of metrics registered in a
 * Prometheus and an OpenMetrics registry, the first OpenMetrics scrape therefore renamed every
 * counter in the Prometheus text too (`crm_worker_job_runs` instead of `crm_worker_job_runs_total`,
 * which promtool rejects). Here each render builds a throwaway OpenMetrics registry of views:
 * objects that carry their own name and delegate `get()` to the real metric, so the renaming
 * lands on the view and the Prometheus text keeps its names whatever order the formats are
 * scraped in.
 */
export async function renderOpenMetrics(source: Registry): Promise<string> {
  const target = new Registry<typeof Registry.OPENMETRICS_CONTENT_TYPE>();
  target.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  for (const metric of source.getMetricsAsArray() as unknown as AnyMetric[]) {
    target.registerMetric(viewOf(metric) as unknown as Metric<string>);
  }
  return target.metrics();
}

function viewOf(metric: AnyMetric): AnyMetric {
  // The registry reads the name from what get() returns: report the view's (possibly renamed)
  // name, never the real metric's.
  const view: AnyMetric = {
    name: metric.name,
    help: metric.help,
    type: metric.type,
    get: async () => ({ ...(await metric.get()), name: view.name }),
  };
  const forPromString = metric.getForPromString?.bind(metric);
  if (forPromString) view.getForPromString = async () => ({ ...(await forPromString()), name: view.name });
  return view;
}
