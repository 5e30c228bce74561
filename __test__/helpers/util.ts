// Shared test helpers: deterministic source data, temp files, and the two clients side by side.
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import OSS = require('../..')
import { Emulator, TEST_AK, TEST_BUCKET, TEST_REGION, TEST_SK } from './emulator'

// ali-oss has no bundled types; the tests use it through its runtime surface.
// eslint-disable-next-line @typescript-eslint/no-var-requires
export const AliOSS: any = require('ali-oss')

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex')
}

export function makeData(size: number): Buffer {
  return randomBytes(size)
}

export class TempDir {
  readonly path = mkdtempSync(join(tmpdir(), 'oss-turbo-test-'))
  file(name: string, data: Buffer): string {
    const p = join(this.path, name)
    writeFileSync(p, data)
    return p
  }
  remove(): void {
    rmSync(this.path, { recursive: true, force: true })
  }
}

export interface ClientConfig {
  authorizationV4?: boolean
  accessKeySecret?: string
  [k: string]: unknown
}

export function clientOptions(emu: Emulator, extra: ClientConfig = {}): OSS.Options & Record<string, unknown> {
  return {
    endpoint: emu.endpoint,
    bucket: TEST_BUCKET,
    region: TEST_REGION,
    accessKeyId: TEST_AK,
    accessKeySecret: TEST_SK,
    ...extra,
  }
}

export function turbo(emu: Emulator, extra: ClientConfig = {}): OSS {
  return new OSS(clientOptions(emu, extra))
}

export function ali(emu: Emulator, extra: ClientConfig = {}): any {
  return new AliOSS(clientOptions(emu, extra))
}

/** What a progress call looked like, in a form two clients can be compared by. */
export interface ProgressCall {
  p: number
  checkpoint: 'object' | 'null' | 'undefined'
  res: boolean
  args: number
}

export function recorder() {
  const calls: ProgressCall[] = []
  const checkpoints: unknown[] = []
  const progress = async function (p: number, cp?: unknown, res?: unknown) {
    calls.push({
      p,
      checkpoint: cp === null ? 'null' : cp === undefined ? 'undefined' : 'object',
      res: !!res && typeof res === 'object' && typeof (res as { status?: unknown }).status === 'number',
      args: arguments.length,
    })
    if (cp) checkpoints.push(cp)
  }
  return { calls, checkpoints, progress }
}

/** Catches a rejection and returns it (fails if the promise resolves). */
export async function rejection(p: Promise<unknown>): Promise<any> {
  try {
    await p
  } catch (err) {
    return err
  }
  throw new Error('expected a rejection, but the promise resolved')
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms))
}
