import { describe, expect, it } from 'vitest';
import { pingArgv, parsePing, checkHost } from '../../src/probe/ping.js';
import type { CommandResult } from '../../src/system/process.js';
import { commandResult } from '../helpers/results.js';

const result = (over: Partial<CommandResult>): CommandResult => commandResult({ argv: ['ping'], ...over });

describe('pingArgv', () => {
  it('linux: -c 1 -W seconds', () => {
    expect(pingArgv('linux', 'm2.lan', 1000)).toEqual(['ping', '-c', '1', '-W', '1', 'm2.lan']);
    expect(pingArgv('linux', 'm2.lan', 2500)).toEqual(['ping', '-c', '1', '-W', '3', 'm2.lan']);
    expect(pingArgv('linux', '::1', 1000)).toEqual(['ping', '-6', '-c', '1', '-W', '1', '::1']);
  });
  it('darwin: -c 1 -t seconds', () => {
    expect(pingArgv('darwin', 'm2.lan', 2000)).toEqual(['ping', '-c', '1', '-t', '2', 'm2.lan']);
  });
  it('win32: -n 1 -w milliseconds', () => {
    expect(pingArgv('win32', 'm2.lan', 1500)).toEqual(['ping', '-n', '1', '-w', '1500', 'm2.lan']);
  });
});

describe('parsePing', () => {
  const linuxOk = 'PING 127.0.0.1 (127.0.0.1) 56(84) bytes of data.\n64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.045 ms\n';
  it('linux reply, with round trip', () => {
    expect(parsePing('linux', 'h', result({ stdout: linuxOk }))).toMatchObject({ reachable: true, rttMs: 0.045 });
  });
  it('linux no reply (exit 1)', () => {
    expect(parsePing('linux', 'h', result({ exitCode: 1, stdout: '1 packets transmitted, 0 received, 100% packet loss' })).reachable).toBe(false);
  });
  it('linux network unreachable (exit 2) is down, not unknown', () => {
    expect(parsePing('linux', 'h', result({ exitCode: 2, stderr: 'ping: connect: Network is unreachable' })).reachable).toBe(false);
  });
  it('linux unknown host is unknown', () => {
    expect(parsePing('linux', 'h', result({ exitCode: 2, stderr: 'ping: nope.invalid: Name or service not known' })).reachable).toBeNull();
  });
  it('darwin no reply is exit 2', () => {
    expect(parsePing('darwin', 'h', result({ exitCode: 2, stdout: '1 packets transmitted, 0 packets received, 100.0% packet loss' })).reachable).toBe(false);
  });
  it('win32: exit 0 but "Destination host unreachable" is down; TTL= is up', () => {
    const unreachable = 'Pinging 192.0.2.1 with 32 bytes of data:\r\nReply from 192.0.2.7: Destination host unreachable.\r\n';
    expect(parsePing('win32', 'h', result({ exitCode: 0, stdout: unreachable })).reachable).toBe(false);
    const ok = 'Reply from 192.0.2.1: bytes=32 time<1ms TTL=128\r\n';
    expect(parsePing('win32', 'h', result({ exitCode: 0, stdout: ok }))).toMatchObject({ reachable: true, rttMs: 1 });
    expect(parsePing('win32', 'h', result({ exitCode: 1, stdout: 'Request timed out.' })).reachable).toBe(false);
  });
  it('no ping binary: unknown, never a crash', () => {
    expect(parsePing('linux', 'h', result({ exitCode: undefined, notFound: true }))).toMatchObject({ reachable: null, detail: expect.stringMatching(/no ping command/) });
  });
  it('checkHost survives a runner that throws', async () => {
    const run = () => Promise.reject(new Error('spawn EACCES'));
    expect(await checkHost('h', { timeoutMs: 1000, run, platform: 'linux' })).toMatchObject({ reachable: null });
  });
});
