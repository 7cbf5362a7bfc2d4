// The layout rules of ../shared/architecture.json (README "Layout"), checked by `npm run lint`.
// One rule per "never" arrow of that picture, plus no import cycles. The parts:
//   entries   src/{server,worker,cli,container,app}.ts   processes and the composition root
//   modules   src/modules/      features, their routes, services and steps
//   jobs      src/jobs/         queue, outbox, step runner: no business rule
//   providers src/providers/    vendor adapters behind ports; host transport
//   shared    src/shared/       errors, http helpers, logger: no feature
//   config    src/config/       env parsed once; db and redis clients
//   db        src/db/           Drizzle schema, migrations, tx helpers
const entries = '^src/(server|worker|cli|container|app)\\.ts$';

/** A "never" arrow: nothing in `from` may import anything in `to`. */
const never = (name, from, to, comment) => ({ name, severity: 'error', comment, from: { path: from }, to: { path: to } });

module.exports = {
  forbidden: [
    never('jobs-not-to-modules', '^src/jobs/', '^src/modules/', 'the runner knows no feature: steps come to it'),
    never('jobs-not-to-providers', '^src/jobs/', '^src/providers/', 'steps, not the runner, call vendors'),
    never('shared-not-to-modules', '^src/shared/', '^src/modules/', 'shared code is below the features'),
    never('shared-not-to-db', '^src/shared/', '^src/db/', 'shared code knows no table'),
    never('shared-not-to-jobs', '^src/shared/', '^src/jobs/', 'shared code is below the queue'),
    never('shared-not-to-entries', '^src/shared/', entries, 'shared code never reaches the root'),
    never('modules-not-to-entries', '^src/modules/', entries, 'features never reach up to the root'),
    never('providers-not-to-config', '^src/providers/', '^src/config/', 'adapters take plain settings'),
    never('providers-not-to-modules', '^src/providers/', '^src/modules/', 'a vendor adapter knows nothing of features'),
    never('providers-not-to-db', '^src/providers/', '^src/db/', 'adapters speak to their vendor; callers persist'),
    never('providers-not-to-jobs', '^src/providers/', '^src/jobs/', 'adapters do not enqueue'),
    never('db-not-to-modules', '^src/db/', '^src/modules/', 'the schema knows no feature code'),
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'an import cycle makes load order matter and hides a missing layer',
      from: { path: '^src/' },
      to: { circular: true, dependencyTypesNot: ['type-only'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Tests may reach across parts (a test of a step builds the app); the rules are for the code.
    exclude: { path: '\\.test\\.ts$' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
