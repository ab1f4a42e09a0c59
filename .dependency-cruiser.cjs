/**
 * Layering check (run by `npm test`): layers import downwards only.
 *   cli -> commands -> (targets, runner) -> steps -> (lab, resources, facts, render, artifacts, cloud)
 *       -> transports -> (errors, state, paths)
 */
const layer = (name, dirs) => ({ name, path: `^(${dirs.join('|')})/` });
const forbid = (from, to, comment, toPathNot) => ({
  name: `${from.name}-not-to-${to.name}`,
  comment,
  severity: 'error',
  from: { path: from.path },
  to: toPathNot ? { path: to.path, pathNot: toPathNot } : { path: to.path },
});
// The runner's type declarations (Step, Change, events) are the contract every layer shares.
const RUNNER_CONTRACT = '^src/runner/(types|events)\\.ts$';

const commands = layer('commands', ['src/commands']);
const steps = layer('steps', ['steps']);
const targets = layer('targets', ['src/targets']);
const runner = layer('runner', ['src/runner']);
const transports = layer('transports', ['src/transports']);
const lower = layer('lower', ['src/lab', 'src/resources', 'src/facts', 'src/render', 'src/artifacts']);
const cli = { name: 'cli', path: '^src/(cli|main)\\.ts$' };

module.exports = {
  forbidden: [
    forbid(steps, commands, 'steps are content; commands drive them, never the other way'),
    forbid(steps, cli, 'steps know nothing of the command line'),
    forbid(targets, commands, 'a target opens a host; prompts and flags live in commands'),
    forbid(targets, cli, 'a target opens a host; prompts and flags live in commands'),
    forbid(transports, runner, 'transports know nothing of the runner'),
    forbid(transports, steps, 'transports know nothing of the lab'),
    forbid(transports, commands, 'transports know nothing of the commands'),
    forbid(transports, targets, 'transports know nothing of targets'),
    forbid(transports, lower, 'transports are the bottom layer above errors/state/paths'),
    forbid(runner, commands, 'the runner runs steps; commands call the runner'),
    forbid(runner, cli, 'the runner runs steps; the CLI calls commands'),
    forbid(lower, commands, 'lab, resources, facts, render and artifacts sit below commands'),
    forbid(lower, steps, 'lab, resources, facts, render and artifacts sit below steps'),
    forbid(lower, runner, 'lab, resources, facts, render and artifacts sit below the runner', RUNNER_CONTRACT),
    forbid(lower, targets, 'lab, resources, facts, render and artifacts sit below targets'),
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'an import loop makes layers meaningless',
      from: { path: '^(src|steps)/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
