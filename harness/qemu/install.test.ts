import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { captureSchema } from './capture-schema.ts';
import {
  cacheDir,
  debootstrapArgv,
  isQemuVersion,
  parseDeb822Sources,
  parseOneLineSources,
  parseVersionOutput,
  pickMirror,
  QEMU_SUITES,
  qemuRoot,
  resolveInRoot,
  resolveQemu,
  rootInvocation,
  versionKey,
} from './install.ts';

// example.invalid stands in for a real mirror: no mirror's host name belongs in the repository
const DEB822 = `Types: deb
# a snapshot comment
URIs: http://archive.example.invalid/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://archive.example.invalid/debian-security
Suites: bookworm-security
Components: main
`;

describe('apt sources', () => {
  it('reads deb822 stanzas and picks the main archive', () => {
    const s = parseDeb822Sources(DEB822);
    expect(s).toHaveLength(2);
    expect(pickMirror(s)).toBe('http://archive.example.invalid/debian');
  });

  it('skips disabled and deb-src stanzas and a security-only first stanza', () => {
    const text = `Types: deb-src\nURIs: http://a.example.invalid/debian\nSuites: bookworm\n\nTypes: deb\nEnabled: no\nURIs: http://b.example.invalid/debian\nSuites: bookworm\n\nTypes: deb\nURIs: http://c.example.invalid/debian-security\nSuites: bookworm-security\n\nTypes: deb\nURIs: http://d.example.invalid/debian\nSuites: bookworm\n`;
    expect(pickMirror(parseDeb822Sources(text))).toBe('http://d.example.invalid/debian');
  });

  it('reads one-line sources.list with options and comments', () => {
    const text = `# comment\ndeb-src http://x.example.invalid/debian bookworm main\ndeb http://s.example.invalid/debian-security bookworm-security main\ndeb [signed-by=/k.gpg arch=amd64] http://m.example.invalid/debian bookworm main # tail\n`;
    const s = parseOneLineSources(text);
    expect(s).toHaveLength(2);
    expect(pickMirror(s)).toBe('http://m.example.invalid/debian');
  });

  it('finds nothing in an empty file', () => {
    expect(pickMirror(parseDeb822Sources(''))).toBeUndefined();
  });
});

describe('paths and argv', () => {
  it('picks the cache folder from the environment', () => {
    expect(cacheDir({ FLEECE_LAB_CACHE: '/c' }, '/h')).toBe('/c');
    expect(cacheDir({ XDG_CACHE_HOME: '/x' }, '/h')).toBe('/x/fleece-lab');
    expect(cacheDir({}, '/h')).toBe('/h/.cache/fleece-lab');
    expect(qemuRoot('10.0', '/c')).toBe('/c/qemu/10.0');
  });

  it('builds debootstrap argv, with the sid script for forky only', () => {
    const inc = '--include=qemu-system-common,qemu-utils,qemu-system-x86';
    expect(debootstrapArgv('11.1', '/t', 'http://m')).toEqual([
      'debootstrap',
      '--variant=minbase',
      inc,
      'forky',
      '/t',
      'http://m',
      'sid',
    ]);
    expect(debootstrapArgv('5.2', '/t', 'http://m')).toEqual([
      'debootstrap',
      '--variant=minbase',
      inc,
      'bullseye',
      '/t',
      'http://m',
    ]);
    expect(QEMU_SUITES['10.0'].suite).toBe('trixie');
    expect(isQemuVersion('7.2')).toBe(true);
    expect(isQemuVersion('7.1')).toBe(false);
  });

  it('parses what each binary prints for --version', () => {
    expect(
      parseVersionOutput('qemu-storage-daemon version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright'),
    ).toEqual({
      version: '7.2.22',
      package: 'Debian 1:7.2+dfsg-7+deb12u18+b3',
    });
    expect(parseVersionOutput('QEMU emulator version 11.1.2\n')).toEqual({ version: '11.1.2', package: '' });
    expect(parseVersionOutput('garbage')).toBeUndefined();
    expect(versionKey('10.0.13')).toBe('10.0');
  });

  it('runs a root through its own loader, modules and firmware', () => {
    const inv = rootInvocation('/r', '/r/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2');
    const prefix = [
      '/r/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2',
      '--library-path',
      '/r/lib/x86_64-linux-gnu:/r/usr/lib/x86_64-linux-gnu',
    ];
    expect(inv.qsd).toEqual([...prefix, '/r/usr/bin/qemu-storage-daemon']);
    expect(inv.system).toEqual([...prefix, '/r/usr/bin/qemu-system-x86_64', '-L', '/r/usr/share/qemu']);
    expect(inv.env).toEqual({ QEMU_MODULE_DIR: '/r/usr/lib/x86_64-linux-gnu/qemu' });
  });
});

describe('resolveInRoot', () => {
  const root = mkdtempSync(join(tmpdir(), 'fleece-root-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('keeps absolute links inside the root (bullseye links lib64 ld.so absolutely)', () => {
    mkdirSync(join(root, 'usr/lib/x86_64-linux-gnu'), { recursive: true });
    mkdirSync(join(root, 'usr/lib64'), { recursive: true });
    writeFileSync(join(root, 'usr/lib/x86_64-linux-gnu/ld-2.31.so'), '');
    symlinkSync('usr/lib', join(root, 'lib'));
    symlinkSync('usr/lib64', join(root, 'lib64'));
    symlinkSync('/lib/x86_64-linux-gnu/ld-2.31.so', join(root, 'usr/lib64/ld-linux-x86-64.so.2'));
    expect(resolveInRoot(root, '/lib64/ld-linux-x86-64.so.2')).toBe(
      join(root, 'usr/lib/x86_64-linux-gnu/ld-2.31.so'),
    );
  });

  it('follows relative links', () => {
    mkdirSync(join(root, 'a'), { recursive: true });
    symlinkSync('../lib/x86_64-linux-gnu/ld-2.31.so', join(root, 'a/ld'));
    expect(resolveInRoot(root, '/a/ld')).toBe(join(root, 'usr/lib/x86_64-linux-gnu/ld-2.31.so'));
  });
});

describe('installed roots', () => {
  for (const v of ['5.2', '10.0', '11.1'] as const) {
    it(`${v}: runs qemu-storage-daemon and answers QMP`, async (ctx) => {
      let q: ReturnType<typeof resolveQemu>;
      try {
        q = resolveQemu(v);
      } catch (e) {
        ctx.skip(e instanceof Error ? e.message : String(e));
        return;
      }
      expect(versionKey(q.version)).toBe(v);
      const cap = await captureSchema('qsd', q);
      expect(cap.greeting).toMatchObject({ QMP: { version: { package: q.package } } });
      expect(Array.isArray(cap.schema)).toBe(true);
    });
  }
});
