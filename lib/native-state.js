'use strict'
// The native client of one `OSS` instance, kept in step with the instance's `this.options` — ali-oss's
// normalised options, which the app may change between calls (`useBucket`/`setBucket`, new credentials it
// assigns itself, the ones `refreshSTSToken` returns). Each accelerated call reads `this._native`, which
// pushes what changed (a string compare each) before the call starts.

const { setSTSToken } = require('ali-oss/lib/common/utils/setSTSToken')

const NATIVE = Symbol('oss-turbo native state')
const SECRET_KEYS = ['accessKeySecret', 'stsToken']

// Secrets stay readable (`client.options.accessKeySecret`, as in ali-oss) but are hidden from
// `JSON.stringify`/`console.log`; assignments (the app's or ali-oss's refresh) keep them hidden.
function hideSecrets(options) {
  for (const key of SECRET_KEYS) {
    Object.defineProperty(options, key, { value: options[key], enumerable: false, writable: true, configurable: true })
  }
}

function attachNative(client, NativeClient, given) {
  const o = client.options
  const state = {
    native: new NativeClient(nativeOptions(o, given || {})),
    bucket: o.bucket || null,
    accessKeyId: o.accessKeyId,
    accessKeySecret: o.accessKeySecret,
    stsToken: o.stsToken || null,
  }
  Object.defineProperty(client, NATIVE, { value: state, enumerable: false })
  if (typeof o.refreshSTSToken === 'function') {
    // Rust asks before a request once its STS credentials are older than `refreshSTSTokenInterval` (0: before
    // every request); ali-oss's own refresh step decides and stores the result in `this.options`, so ali-oss's
    // methods and the native ones share one set of credentials and one refresh clock.
    state.native.setCredentialsRefresher(async () => {
      await setSTSToken.call(client)
      const c = client.options
      state.accessKeyId = c.accessKeyId
      state.accessKeySecret = c.accessKeySecret
      state.stsToken = c.stsToken || null
      return {
        accessKeyId: String(c.accessKeyId),
        accessKeySecret: String(c.accessKeySecret),
        stsToken: c.stsToken ? String(c.stsToken) : undefined,
      }
    })
  }
}

function syncNative(client) {
  const state = client[NATIVE]
  const o = client.options
  const bucket = o.bucket || null
  if (bucket !== state.bucket) {
    state.native.setBucket(bucket == null ? undefined : String(bucket))
    state.bucket = bucket
  }
  const stsToken = o.stsToken || null
  if (
    o.accessKeyId !== state.accessKeyId ||
    o.accessKeySecret !== state.accessKeySecret ||
    stsToken !== state.stsToken
  ) {
    state.native.setCredentials(
      String(o.accessKeyId),
      String(o.accessKeySecret),
      stsToken == null ? undefined : String(stsToken),
    )
    state.accessKeyId = o.accessKeyId
    state.accessKeySecret = o.accessKeySecret
    state.stsToken = stsToken
  }
  return state.native
}

// ali-oss's normalised options → the native client's. `endpoint` is a parsed URL there; the native side
// takes its origin. `retryMax` comes from what the app gave: ali-oss's default is 0 (no retry), oss-turbo's
// is 3 (README: a deliberate improvement), so only an explicit value is passed on.
function nativeOptions(o, given) {
  const ep = o.endpoint
  return {
    region: o.region == null ? undefined : String(o.region),
    endpoint: ep == null ? undefined : typeof ep === 'string' ? ep : `${ep.protocol}//${ep.host}`,
    bucket: o.bucket || undefined,
    accessKeyId: String(o.accessKeyId),
    accessKeySecret: String(o.accessKeySecret),
    stsToken: o.stsToken || undefined,
    secure: o.secure == null ? undefined : !!o.secure,
    internal: o.internal == null ? undefined : !!o.internal,
    cname: o.cname == null ? undefined : !!o.cname,
    sldEnable: o.sldEnable == null ? undefined : !!o.sldEnable,
    timeout: o.timeout || undefined,
    authorizationV4: o.authorizationV4 == null ? undefined : !!o.authorizationV4,
    retryMax: typeof given.retryMax === 'number' ? given.retryMax : undefined,
    // 0 is meaningful: refresh before every request, as ali-oss does.
    refreshStsTokenInterval:
      typeof o.refreshSTSTokenInterval === 'number' && o.refreshSTSTokenInterval >= 0
        ? o.refreshSTSTokenInterval
        : undefined,
    ca: o.ca == null ? undefined : [].concat(o.ca).map((c) => (Buffer.isBuffer(c) ? c.toString('utf8') : String(c))),
  }
}

module.exports = { NATIVE, attachNative, syncNative, hideSecrets, nativeOptions }
