import type { Command } from 'commander';
import { registerBench } from './bench.js';
import { registerTopology } from './topology.js';
import { registerPut } from './put.js';
import { registerDel } from './del.js';
import { registerGet } from './get.js';
import { registerScan } from './scan.js';
import { registerSnapshots } from './snapshots.js';
import { registerRoles } from './roles.js';
import { registerUp } from './up.js';
import { registerStatus } from './status.js';
import { registerTop } from './top.js';
import { registerSettings } from './settings.js';
import { registerRender } from './render.js';
import { registerDemo } from './demo.js';
import { registerChaos } from './chaos.js';
import { registerCerts } from './certs.js';

/** A command file's entry point: adds its command(s) to the program. */
export type Register = (program: Command) => void;

/** Every command of the CLI, in the order `--help` lists them. */
export const commands: readonly Register[] = [registerUp, registerStatus, registerTop, registerPut, registerDel, registerGet, registerScan, registerSnapshots, registerBench, registerChaos, registerTopology, registerCerts, registerRender, registerSettings, registerRoles, registerDemo];
