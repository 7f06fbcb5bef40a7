#!/usr/bin/env bash
# Samples the machine's CPU counters every 2 s until killed, one line per sample:
#   <epoch seconds> user nice system idle iowait irq softirq steal   (the "cpu" line of /proc/stat)
# bench/suite-time.ts reads such a log (label=jest.json+cpu.log) for how busy the cores were
# while jest ran. Run it beside the test command:
#   bash bench/lib/proc-stat-sampler.sh > /tmp/cpu.log & bash scripts/test.sh; kill $!
while true; do
  echo "$(date +%s) $(head -1 /proc/stat | cut -d' ' -f3-10)"
  sleep 2
done
