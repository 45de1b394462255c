/**
 * Script checks (Consul's CheckMonitor with ScriptArgs): ScriptArgs[0] is executed with the
 * rest as its arguments, without a shell, in a process group of its own, with the agent's
 * environment. Exit 0 is passing, exit 1 warning, anything else (another code, a signal)
 * critical; the output is stdout and stderr interleaved, the last OutputMaxSize bytes kept
 * (see {@link OutputTail}).
 *
 * At Timeout the whole process group is killed (SIGKILL) and the check reports critical
 * `Timed out (<Timeout>) running check`, followed by the output so far; the next run waits for
 * the group leader to exit. A script that cannot be started reports critical with the reason.
 * As in Consul, those two outcomes bypass the status handler; exit codes go through it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { CheckDefinition } from '../local/types.js';
import { SCRIPT_KILL_WAIT_MS, SCRIPT_PIPE_GRACE_MS } from './constants.js';
import { formatGoDuration, OutputTail, outputMax } from './output.js';
import type { Probe, ProbeResult } from './scheduler.js';
import type { CheckLogger } from './types.js';

export interface ScriptProbeOptions {
  readonly timeout: number;
  readonly logger?: CheckLogger | undefined;
}

/** Go's exec error texts for a command that cannot start. */
function startErrorText(file: string, err: NodeJS.ErrnoException): string {
  if (err.code === 'ENOENT') {
    return file.includes('/')
      ? `fork/exec ${file}: no such file or directory`
      : `exec: "${file}": executable file not found in $PATH`;
  }
  if (err.code === 'EACCES') return `fork/exec ${file}: permission denied`;
  return `exec: "${file}": ${err.message}`;
}

/** Kills the child's process group (it leads one: detached), or the child alone if that fails. */
function killGroup(child: ChildProcess, logger: CheckLogger | undefined, check: string): void {
  const pid = child.pid;
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return;
    logger?.warn({ check, err }, 'Check failed to kill after timeout');
    child.kill('SIGKILL');
  }
}

export function scriptProbe(def: CheckDefinition, o: ScriptProbeOptions): Probe {
  const args = [...def.ScriptArgs];
  const max = outputMax(def.OutputMaxSize);
  const check = def.CheckID;

  return (signal) =>
    new Promise<ProbeResult>((resolve) => {
      const file = args[0];
      if (file === undefined || file === '') {
        resolve({ status: 'critical', output: 'need an executable to run', direct: true });
        return;
      }
      const tail = new OutputTail(max);
      let child: ChildProcess;
      try {
        child = spawn(file, args.slice(1), {
          detached: true,
          stdio: ['ignore', 'pipe', 'pipe'],
          windowsHide: true,
        });
      } catch (err) {
        resolve({
          status: 'critical',
          output: startErrorText(file, err as NodeJS.ErrnoException),
          direct: true,
        });
        return;
      }

      let settled = false;
      let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
      let timedOut = false;
      let graceTimer: NodeJS.Timeout | undefined;
      let killTimer: NodeJS.Timeout | undefined;

      const finish = (r: ProbeResult): void => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        clearTimeout(graceTimer);
        clearTimeout(killTimer);
        child.stdout?.destroy();
        child.stderr?.destroy();
        resolve(r);
      };

      const conclude = (): void => {
        const output = tail.text();
        if (timedOut) {
          const msg = `Timed out (${formatGoDuration(o.timeout)}) running check`;
          finish({
            status: 'critical',
            output: output === '' ? msg : `${msg}\n\n${output}`,
            direct: true,
          });
          return;
        }
        const code = exit?.code ?? null;
        if (code === 0) finish({ status: 'passing', output });
        else if (code === 1) finish({ status: 'warning', output });
        else finish({ status: 'critical', output });
      };

      const onAbort = (): void => {
        if (exit !== undefined || child.pid === undefined) return;
        timedOut = true;
        killGroup(child, o.logger, check);
        // Wait for the leader to exit (so runs never overlap), but not forever.
        killTimer = setTimeout(() => {
          o.logger?.warn({ check, pid: child.pid }, 'Check process did not exit after SIGKILL');
          conclude();
        }, SCRIPT_KILL_WAIT_MS);
        killTimer.unref();
      };

      child.stdout?.on('data', (chunk: Buffer) => tail.write(chunk));
      child.stderr?.on('data', (chunk: Buffer) => tail.write(chunk));
      child.once('error', (err: NodeJS.ErrnoException) => {
        // Only a failed start leaves no pid; other errors (a failed kill) are not outcomes.
        if (child.pid === undefined) {
          finish({ status: 'critical', output: startErrorText(file, err), direct: true });
        } else {
          o.logger?.warn({ check, err }, 'Check process error');
        }
      });
      child.once('exit', (code, sig) => {
        exit = { code, signal: sig };
        // stdout/stderr usually close right after; a grandchild holding them must not stall us.
        graceTimer = setTimeout(conclude, SCRIPT_PIPE_GRACE_MS);
        graceTimer.unref();
      });
      child.once('close', () => {
        if (exit !== undefined) conclude();
      });

      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
}
