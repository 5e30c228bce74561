'use strict'
// Loads the native addon through the binding.js that `napi build` generates. That loader looks for
// `oss-turbo.<platform>.node` next to it (a local build), then for the platform package napi-rs publishes
// it in (`oss-turbo-linux-x64-gnu`, an optional dependency of oss-turbo). When neither is there it throws
// a long chain about npm's optional-dependency bug; this turns that into one clear message saying which
// platform this is, which ones have a prebuilt binary, and what to do.

const PREBUILT = ['linux-x64-gnu', 'linux-arm64-gnu', 'linux-x64-musl', 'linux-arm64-musl']

function platformId() {
  const { platform, arch } = process
  if (platform !== 'linux') return `${platform}-${arch}`
  const report = typeof process.report?.getReport === 'function' ? process.report.getReport() : null
  const glibc = report && report.header && report.header.glibcVersionRuntime
  return `${platform}-${arch}-${glibc ? 'gnu' : 'musl'}`
}

function loadBinding() {
  try {
    return require('../binding.js')
  } catch (cause) {
    if (cause && cause.code === 'MODULE_NOT_FOUND' && /binding\.js/.test(firstLine(cause))) {
      // Only a source checkout can lack binding.js: `napi build` writes it next to the addon.
      throw noBinary('binding.js has not been generated yet: run `npm run build` (needs a Rust toolchain)', cause)
    }
    const id = platformId()
    const why = PREBUILT.includes(id)
      ? `its platform package oss-turbo-${id} is not installed or did not load ` +
        '(reinstall without --omit=optional / --no-optional)'
      : `there is no prebuilt binary for ${id} (prebuilt: ${PREBUILT.join(', ')}); ` +
        'build it from source with a Rust toolchain: `npm run build` in a clone of oss-turbo'
    // binding.js chains its attempts through `cause`, the last attempt (the platform package) first:
    // its message is the specific one (module not found, or a dlopen error such as a too-old glibc).
    const detail = firstLine(cause && cause.cause)
    throw noBinary(`${why}.${detail ? ` Cause: ${detail}` : ''}`, cause)
  }
}

function noBinary(why, cause) {
  const err = new Error(`oss-turbo: cannot load the native addon: ${why}`)
  err.code = 'OSS_TURBO_NO_BINARY'
  err.cause = cause
  return err
}

function firstLine(e) {
  const msg = e && typeof e.message === 'string' ? e.message : ''
  return msg.split('\n')[0]
}

// Without a binary, oss-turbo is plain ali-oss: `tryLoadBinding()` says why instead of throwing, and the
// caller warns once (uploads work, only not accelerated).
function tryLoadBinding() {
  try {
    return { binding: loadBinding(), error: null }
  } catch (error) {
    return { binding: null, error }
  }
}

module.exports = loadBinding
module.exports.tryLoadBinding = tryLoadBinding
module.exports.platformId = platformId
