import type { Glt } from '../glts/glt.js';

/**
 * The etcd key layout of one deployment. Everything lives under `/aetherflow/<name>/`
 * (<name> = the topology's `name`), so several deployments can share one etcd.
 *
 * | key                                              | value | lifetime |
 * | ---                                              | ---   | ---      |
 * | election/leader/<region>/<lease id hex>          | candidate JSON (`CandidateInfo`) | lease (1 s TTL); the oldest key (lowest create revision) is the leader, its create revision the epoch |
 * | election/coordinator/<lease id hex>              | candidate JSON | same |
 * | services/<role>/<id>                             | registration JSON (`ServiceRecord`) | lease; vanishes when the process dies |
 * | settings                                         | dynamic settings JSON (`Settings`) | persistent |
 * | commits/<GLT wall, 20 digits>.<logical, 10 digits> | commit record `{T, members, epoch}` | persistent, bounded history |
 * | membership                                       | current membership JSON | persistent |
 *
 * Election keys are laid out by the etcd3 client's `Election` (namespace
 * `election/<election name>/`, key = lease id), which follows etcd's Go
 * `concurrency.Election`, so `etcdctl elect -l` style tools read them too.
 */
export interface ClusterPaths {
  /** `/aetherflow/<name>/`: the namespace every other key is relative to. */
  readonly root: string;
  /** Election name (relative to root, as etcd3's `namespace(root).election(name)` takes it). */
  readonly leaderElection: (region: string) => string;
  readonly coordinatorElection: string;
  /** Full key prefix of an election's candidate keys. */
  readonly electionPrefix: (electionName: string) => string;
  readonly servicesPrefix: string;
  readonly servicePrefix: (role: string) => string;
  readonly service: (role: string, id: string) => string;
  readonly settings: string;
  readonly commitsPrefix: string;
  /** A commit record's key: fixed-width decimal, so key order is GLT order. */
  readonly commit: (t: Glt) => string;
  readonly membership: string;
}

export function clusterPaths(name: string): ClusterPaths {
  const root = `/aetherflow/${name}/`;
  return {
    root,
    leaderElection: (region) => `leader/${region}`,
    coordinatorElection: 'coordinator',
    electionPrefix: (electionName) => `${root}election/${electionName}/`,
    servicesPrefix: `${root}services/`,
    servicePrefix: (role) => `${root}services/${role}/`,
    service: (role, id) => `${root}services/${role}/${id}`,
    settings: `${root}settings`,
    commitsPrefix: `${root}commits/`,
    commit: (t) => `${root}commits/${t.wall.toString().padStart(20, '0')}.${t.logical.toString().padStart(10, '0')}`,
    membership: `${root}membership`,
  };
}
