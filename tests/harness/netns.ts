/**
 * Simulated hosts: named network namespaces made from the sandbox host (not
 * inside `ip netns exec`, whose private mount namespace would drop the name).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { assertSandboxNetwork } from './env.js';

export function sh(cmd: string, args: string[], opts: { input?: string } = {}): string {
  return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], ...(opts.input ? { input: opts.input } : {}) });
}

/** Make a named netns with lo up. */
export function createHost(name: string): string {
  assertSandboxNetwork();
  sh('ip', ['netns', 'add', name]);
  sh('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}

/** Remove a named netns (and so its devices); fine when it is gone. */
export function destroyHost(name: string): void {
  try {
    sh('ip', ['netns', 'del', name]);
  } catch {
    // already gone
  }
}

/** Run a command inside a host and return its stdout. */
export function inHost(name: string, cmd: string, args: string[] = []): string {
  return sh('ip', ['netns', 'exec', name, cmd, ...args]);
}

export interface Responder {
  proc: ChildProcess;
  stop(): Promise<void>;
}

/**
 * A tiny TCP responder in a host: every connection gets one line
 * `<name> <peer address>` and is closed. It exits by itself after
 * `lifetimeMs`, so a failing test cannot leave it running.
 */
export async function startResponder(host: string, port: number, name: string, lifetimeMs = 60_000, proto: 'tcp' | 'udp' = 'tcp'): Promise<Responder> {
  const script = proto === 'tcp'
    ? `const s=require('net').createServer(c=>{c.end(${JSON.stringify(name)}+' '+c.remoteAddress.replace(/^::ffff:/,'')+'\\n')});
       s.listen(${port},'0.0.0.0',()=>console.log('ready'));setTimeout(()=>process.exit(0),${lifetimeMs}).unref();`
    : `const s=require('dgram').createSocket('udp4');s.on('message',(m,r)=>s.send(${JSON.stringify(name)}+' '+r.address+'\\n',r.port,r.address));
       s.bind(${port},'0.0.0.0',()=>console.log('ready'));setTimeout(()=>process.exit(0),${lifetimeMs}).unref();`;
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const proc = spawn('ip', ['netns', 'exec', host, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'inherit'], env });
  await new Promise<void>((resolve, reject) => {
    proc.once('error', reject);
    proc.once('exit', (c) => reject(new Error(`responder in ${host} exited (${c})`)));
    proc.stdout!.once('data', () => resolve());
  });
  return {
    proc,
    stop: () =>
      new Promise((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGKILL');
      }),
  };
}

/** Connect from a host (or the sandbox host when `host` is undefined) and read the reply line. */
export function tcpAsk(host: string | undefined, addr: string, port: number, timeoutS = 3): string {
  const script = `const c=require('net').connect({host:${JSON.stringify(addr)},port:${port},timeout:${timeoutS * 1000}});let d='';
    c.on('data',x=>d+=x);c.on('end',()=>{process.stdout.write(d.trim());process.exit(0)});
    c.on('timeout',()=>{process.stdout.write('TIMEOUT');process.exit(0)});c.on('error',e=>{process.stdout.write('ERROR '+e.code);process.exit(0)});`;
  const args = [process.execPath, '-e', script];
  return host ? sh('ip', ['netns', 'exec', host, ...args]) : sh(args[0]!, args.slice(1));
}
