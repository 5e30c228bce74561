'use strict'
// Pulls the events of a native session (an upload, a stream upload, a download) until `handle` returns a
// result. What every session shares is done here once: `signal` cancels the session, warnings go to
// `console.warn`, and byte progress goes to `onBytes`; a throwing `onBytes` cancels the session and is handed
// to `onCallbackError` (the caller rejects with it). Every other event goes to `handle`: a value other than
// `undefined` ends the loop with that value, a throw rejects.
async function runSession(session, { signal, onBytes, onCallbackError }, handle) {
  const onAbort = () => session.cancel()
  if (signal) signal.addEventListener('abort', onAbort, { once: true })
  try {
    for (;;) {
      const ev = await session.next()
      if (ev.kind === 'warning') {
        console.warn(ev.message)
      } else if (ev.kind === 'bytes') {
        try {
          onBytes({ loaded: ev.loaded, total: ev.total == null ? undefined : ev.total })
        } catch (err) {
          onCallbackError(err)
          session.cancel()
        }
      } else {
        const out = await handle(ev)
        if (out !== undefined) return out
      }
    }
  } finally {
    if (signal) signal.removeEventListener('abort', onAbort)
  }
}

module.exports = { runSession }
