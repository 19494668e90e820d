import { Argument, Option, type Command } from 'commander';
import { AetherError } from '../../common/errors.js';
import { DEFAULT_API_LIMITS } from '../../regional/api-limits.js';
import { loadTopology } from '../../topology/load.js';
import { Deployment } from '../../chaos/deployment.js';
import { DEFAULT_BULK } from '../../chaos/catch-up.js';
import { runDrill } from '../../chaos/drill.js';
import { drillPassed, formatDrillReport } from '../../chaos/drill-report.js';
import { CrashHold, healPartitions, killEtcdLeader, killIds, killProcess, partitionRegion } from '../../chaos/faults.js';
import { DRILL_DESCRIPTIONS, DRILL_NAMES, type DrillName } from '../../chaos/scenarios.js';
import { printJson, printTable } from '../../common/output.js';
import { globalOptions } from '../program.js';
import { certsDirOption } from './client-options.js';
import type { GlobalOptions } from '../output.js';

function positive(name: string, integer: boolean) {
  return (text: string): number => {
    const n = Number(text);
    if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n)) || n > 1e7) throw new AetherError('USAGE', `${name} must be a positive ${integer ? 'integer' : 'number'}, got ${JSON.stringify(text)}`);
    return n;
  };
}

/** Opens the deployment of the topology the global options name; `region`, when given, is checked first (bad input exits 2 without etcd). */
async function withDeployment<T>(cmd: Command, fn: (d: Deployment, opts: GlobalOptions) => Promise<T>, region?: string): Promise<T> {
  const opts = globalOptions(cmd);
  const topology = loadTopology(opts.topology);
  if (region !== undefined && !topology.regions.some((r) => r.name === region)) {
    throw new AetherError('UNKNOWN_REGION', `no region ${JSON.stringify(region)} in the topology (known: ${topology.regions.map((r) => r.name).join(', ')})`);
  }
  const d = Deployment.open(topology);
  try {
    return await fn(d, opts);
  } finally {
    d.close();
  }
}

/** Sleeps `ms`, cut short by SIGINT/SIGTERM (so a held fault is healed before the command exits). */
function holdFor(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
  });
}

const say = (opts: GlobalOptions, line: string): void => void (opts.json || process.stderr.write(line + '\n'));

/** Default fault window of the fault drills, and longest cut of catch-up (its bulk load usually ends it sooner). */
const FAULT_WINDOW_S = 10;
const CATCH_UP_CUT_S = 120;

interface DrillCliOptions {
  readonly list?: boolean;
  readonly duration?: number;
  readonly rate: number;
  readonly seed: number;
  readonly settle: number;
  readonly recoverTimeout: number;
  readonly size: number;
  readonly valueBytes: number;
  readonly certsDir?: string;
}

/** `aetherflow chaos …`: fault injection against a running `up` (found through the topology's etcd), and scripted drills. */
export function registerChaos(program: Command): void {
  const chaos = program
    .command('chaos')
    .description('fault injection against a running deployment (partition or crash a region, SIGKILL a process or the etcd leader) and scripted drills under write load')
    .addHelpText(
      'after',
      `
A partition is written to the dynamic settings' partitions list (\`aetherflow settings\`),
which every process applies to its Quantum links. A crash SIGKILLs the region's leaders and
data nodes; \`up\` restarts them with backoff — with --duration, chaos keeps killing each
restarted process as it registers until the duration ends, then lets the restart through.

Examples:
  aetherflow chaos fail-region ap-south --duration 10
  aetherflow chaos fail-region ap-south --mode crash --duration 5
  aetherflow chaos heal-region ap-south
  aetherflow chaos kill us-east-d1
  aetherflow chaos drill --list
  aetherflow chaos drill region-partition --duration 10 --rate 2000
  aetherflow chaos drill catch-up --size 300`,
    );

  chaos
    .command('fail-region')
    .description('cut a region off from every other region and the coordinator (partition), or SIGKILL its processes (crash)')
    .argument('<region>')
    .addOption(new Option('--mode <mode>', 'partition or crash').choices(['partition', 'crash']).default('partition'))
    .option('--duration <seconds>', 'heal by itself after this long (the command runs until then)', positive('--duration', false))
    .action(async (region: string, o: { mode: 'partition' | 'crash'; duration?: number }, cmd: Command) =>
      withDeployment(cmd, async (d, opts) => {
        const durationMs = o.duration === undefined ? undefined : o.duration * 1000;
        if (o.mode === 'partition') {
          const partitions = await partitionRegion(d, region);
          say(opts, `${region} partitioned (${partitions.length} links cut)${durationMs ? `; healing in ${o.duration}s` : '; heal with `aetherflow chaos heal-region ' + region + '`'}`);
          if (durationMs === undefined) return opts.json ? printJson({ region, mode: o.mode, partitions }) : undefined;
          await holdFor(durationMs);
          const healed = await healPartitions(d, region);
          if (opts.json) printJson({ region, mode: o.mode, durationS: o.duration, healed: true, partitions: healed });
          else say(opts, `${region} healed`);
          return;
        }
        if (durationMs === undefined) {
          const killed = await killIds(d, d.regionIds(region));
          if (killed.length === 0) throw new AetherError('CHAOS_REFUSED', `no running process of region ${region} is registered`);
          if (opts.json) printJson({ region, mode: o.mode, killed, restartedBy: 'up' });
          else printTable(['killed', 'pid'], killed.map((k) => [k.id, k.pid]));
          return;
        }
        const hold = await CrashHold.start(d, region);
        say(opts, `${region} crashed (${hold.killed.map((k) => `${k.id}:${k.pid}`).join(', ')}); holding it down for ${o.duration}s`);
        await holdFor(durationMs);
        const killed = await hold.stop();
        if (opts.json) printJson({ region, mode: o.mode, durationS: o.duration, killed, restartedBy: 'up' });
        else say(opts, `${region} released after ${killed.length} kills; \`up\` restarts its processes`);
      }, region),
    );

  chaos
    .command('heal-region')
    .description("remove a region's partition (a crashed region comes back by itself: `up` restarts it)")
    .argument('<region>')
    .action(async (region: string, _o: unknown, cmd: Command) =>
      withDeployment(cmd, async (d, opts) => {
        const partitions = await healPartitions(d, region);
        if (opts.json) printJson({ region, healed: true, partitions });
        else say(opts, `${region} healed (${partitions.length} links still cut by other faults)`);
      }, region),
    );

  chaos
    .command('kill')
    .description('SIGKILL one process of the topology (its pid from the service registry); `up` restarts it')
    .argument('<id>')
    .action(async (id: string, _o: unknown, cmd: Command) =>
      withDeployment(cmd, async (d, opts) => {
        const k = await killProcess(d, id);
        if (opts.json) printJson(k);
        else say(opts, `killed ${k.id} (pid ${k.pid})`);
      }),
    );

  chaos
    .command('kill-etcd-leader')
    .description("SIGKILL the raft leader of the local 3-member etcd `up` runs (not restarted: the other two keep quorum)")
    .action(async (_o: unknown, cmd: Command) =>
      withDeployment(cmd, async (d, opts) => {
        const k = await killEtcdLeader(d);
        if (opts.json) printJson(k);
        else say(opts, `killed etcd member ${k.member} (pid ${k.pid}, ${k.clientUrl})`);
      }),
    );

  chaos
    .command('drill')
    .description('a scripted fault under write load, then every acknowledged write read back in every region; prints commits, exclusion, gaps, writes lost and the S/D/M checks')
    .addArgument(new Argument('[name]', 'the drill (see --list)').choices(DRILL_NAMES))
    .option('--list', 'list the drills and exit')
    .option('--duration <seconds>', `fault window; for catch-up, the longest cut (default ${FAULT_WINDOW_S}, catch-up ${CATCH_UP_CUT_S})`, positive('--duration', false))
    .option('--rate <n>', 'writes per second over all regions (the keyed load)', positive('--rate', true), 2000)
    .option('--seed <n>', 'seeds the load and the choice of targets', positive('--seed', true), 1)
    .option('--settle <seconds>', 'load before the fault and after healing', positive('--settle', false), 3)
    .option('--recover-timeout <seconds>', 'longest wait for every region to commit again after healing', positive('--recover-timeout', false), 30)
    .option('--size <MB>', 'catch-up: what the other regions write while one is cut off', positive('--size', false), DEFAULT_BULK.megabytes)
    .option('--value-bytes <n>', 'catch-up: the size of each of those values', positive('--value-bytes', true), DEFAULT_BULK.valueBytes)
    .addOption(certsDirOption())
    .action(async (name: DrillName | undefined, o: DrillCliOptions, cmd: Command) => {
      if (o.list) {
        const rows = DRILL_NAMES.map((n) => ({ name: n, description: DRILL_DESCRIPTIONS[n] }));
        if (globalOptions(cmd).json) printJson({ drills: rows });
        else printTable(['drill', 'what it does'], rows.map((r) => [r.name, r.description]));
        return;
      }
      if (name === undefined) throw new AetherError('USAGE', `name a drill (${DRILL_NAMES.join(', ')}) or give --list`);
      if (o.valueBytes > DEFAULT_API_LIMITS.maxValueBytes) throw new AetherError('USAGE', `--value-bytes must be at most ${DEFAULT_API_LIMITS.maxValueBytes} (the largest value a region takes)`);
      await withDeployment(cmd, async (d, opts) => {
        const report = await runDrill(d, name, {
          durationS: o.duration ?? (name === 'catch-up' ? CATCH_UP_CUT_S : FAULT_WINDOW_S),
          ratePerS: o.rate,
          seed: o.seed,
          settleS: o.settle,
          recoverTimeoutS: o.recoverTimeout,
          bulk: { megabytes: o.size, valueBytes: o.valueBytes },
          progress: (line) => say(opts, line),
          ...(o.certsDir !== undefined ? { certsDir: o.certsDir } : {}),
        });
        if (opts.json) printJson({ ...report, passed: drillPassed(report) });
        else process.stdout.write(formatDrillReport(report) + '\n');
        if (!drillPassed(report)) process.exitCode = 1;
      });
    });
}
