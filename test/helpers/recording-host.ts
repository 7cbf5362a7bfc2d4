import type { HostTransport } from '../../src/providers/host/host.port.js';

/**
 * A host transport that records every operation it is asked for and does nothing (reads find
 * nothing, commands exit 1): for tests proving that refused input reaches no file or command.
 */
export function recordingHost(calls: string[]): HostTransport {
  return {
    description: 'recording',
    ensureDir: async (p) => (calls.push(`ensureDir ${p}`), false),
    readFile: async (p) => (calls.push(`readFile ${p}`), null),
    writeFileAtomic: async (p) => void calls.push(`write ${p}`),
    withLock: async (p, work) => (calls.push(`lock ${p}`), work()),
    removeFile: async (p) => void calls.push(`removeFile ${p}`),
    removeTree: async (p) => void calls.push(`removeTree ${p}`),
    exists: async (p) => (calls.push(`exists ${p}`), false),
    readLink: async (p) => (calls.push(`readLink ${p}`), null),
    symlink: async (target, p) => void calls.push(`symlink ${p} → ${target}`),
    chown: async (p) => void calls.push(`chown ${p}`),
    signal: async (pid) => (calls.push(`signal ${pid}`), false),
    run: async (argv) => (calls.push(`run ${argv.join(' ')}`), { code: 1, stdout: '', stderr: '' }),
    close: async () => undefined,
  };
}
