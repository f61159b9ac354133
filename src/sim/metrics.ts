/**
 * The simulator's own /metrics (`bos sim`, docs/simulator.md): its process metrics and the machine
 * room's running totals of boots and state reports, read at each scrape.
 */
import { Counter, Gauge, Registry } from 'prom-client';
import { withProcessMetrics } from '../metrics.js';
import type { MachineRoom } from './room.js';

export function simMetrics(room: MachineRoom): Registry {
  const registry = withProcessMetrics(new Registry());
  const registers = [registry];
  new Counter({
    name: 'bos_sim_boots_total',
    help: 'Boots of the simulated nodes so far',
    registers,
    collect() {
      this.reset();
      this.inc(room.counts().boots);
    },
  });
  new Counter({
    name: 'bos_sim_reports_total',
    help: "The simulated nodes' state reports to BOS so far, by outcome (ok, or failed: an error or a non-2xx answer)",
    labelNames: ['outcome'],
    registers,
    collect() {
      const c = room.counts();
      this.reset();
      this.inc({ outcome: 'ok' }, c.reports);
      this.inc({ outcome: 'failed' }, c.reportFailures);
    },
  });
  new Gauge({
    name: 'bos_sim_reports_in_flight',
    help: 'State reports being sent or waiting to be sent',
    registers,
    collect() {
      this.set(room.counts().reportsInFlight);
    },
  });
  return registry;
}
