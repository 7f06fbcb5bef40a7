import { withDeadlineSignal } from '../util/deadline';
import { CliError, type CliIo } from './cli-io';

/** The fields of a /health answer that this command prints; an older or foreign server may omit any. */
interface HealthBody {
  status?: string;
  instance?: string;
  uptime?: number;
  services?: Record<string, string>;
  jobs?: Record<string, boolean>;
  problems?: string[];
}

/**
 * `crm-worker health`: a running worker's /health, summarised; exit 0 only when it says ok. With
 * the API key (API_KEY, as the worker's) /health also shows the instance and the probes' errors.
 */
export async function printHealth(baseUrl: string, io: CliIo, apiKey?: string): Promise<number> {
  const url = new URL('/health', baseUrl);
  let response: { status: number };
  let text: string;
  try {
    ({ response, text } = await withDeadlineSignal(5_000, `GET ${url.href}`, [], async (signal) => {
      const answer = await fetch(url, { signal, headers: apiKey ? { 'x-api-key': apiKey } : {} });
      return { response: answer, text: await answer.text() };
    }));
  } catch (err) {
    throw new CliError(`no answer from ${url.href}: ${(err as Error).message}`, 1);
  }
  let body: HealthBody;
  try {
    body = JSON.parse(text);
  } catch {
    throw new CliError(`${url.href} answered ${response.status} with a body that is not JSON`, 1);
  }
  io.out(`status: ${body.status} (HTTP ${response.status}), instance ${body.instance ?? '?'}, up ${body.uptime ?? '?'}s`);
  const services = Object.entries((body.services ?? {}) as Record<string, string>);
  for (const [name, state] of services) io.out(`  ${name.padEnd(20)} ${state}`);
  const jobs = Object.entries((body.jobs ?? {}) as Record<string, boolean>);
  const running = jobs.filter(([, r]) => r).map(([n]) => n);
  io.out(`jobs: ${jobs.map(([n]) => n).join(', ') || 'none'}; running now: ${running.join(', ') || 'none'}`);
  for (const problem of (body.problems ?? []) as string[]) io.out(`problem: ${problem}`);
  return response.status === 200 && body.status === 'ok' ? 0 : 1;
}
