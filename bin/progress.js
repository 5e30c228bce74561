'use strict'
// A byte-progress display for an upload, over cli-progress: on a terminal a live bar
// (`[=====-----] 45% | 230.4/512.0 MiB | 350.2 MiB/s | ETA 1s`); on anything else (a pipe, a log file)
// the same figures as plain lines, one a second, and a last one at the end. Used by the CLI and the demo.

const cliProgress = require('cli-progress')

const MiB = 1024 * 1024

class ByteProgress {
  /**
   * @param {{stream?: NodeJS.WriteStream, label?: string, interval?: number}} [opts]
   */
  constructor(opts = {}) {
    this.stream = opts.stream || process.stderr
    this.label = opts.label || ''
    this.tty = this.stream.isTTY === true
    this.total = 0
    this.loaded = 0
    // Speed and ETA count only what this run sends: bytes done before a resume are not this run's speed.
    this.startLoaded = 0
    this.startTime = 0
    // When the last byte went out: the wait for Complete after it is not sending speed.
    this.endTime = 0
    this.bar = new cliProgress.SingleBar({
      stream: this.stream,
      format: (options, params) => this.line(options, params),
      noTTYOutput: true,
      notTTYSchedule: opts.interval || 1000,
      fps: 10,
      hideCursor: this.tty,
      clearOnComplete: !this.tty,
      barsize: 30,
    })
  }

  /** Starts the display; `already` is what was uploaded before this run (a resume). */
  start(total, already = 0) {
    this.total = total
    this.loaded = already
    this.startLoaded = already
    this.startTime = Date.now()
    this.endTime = already >= total ? this.startTime : 0
    this.bar.start(total, already)
  }

  update(loaded) {
    this.loaded = Math.max(this.loaded, Math.min(loaded, this.total))
    if (this.loaded === this.total && !this.endTime) this.endTime = Date.now()
    this.bar.update(this.loaded)
  }

  stop() {
    this.bar.stop()
  }

  /** Bytes per second over this run so far. */
  speed() {
    const secs = ((this.endTime || Date.now()) - this.startTime) / 1000
    return secs > 0 ? (this.loaded - this.startLoaded) / secs : 0
  }

  line(options, params) {
    const pct = this.total > 0 ? Math.floor((this.loaded / this.total) * 100) : 100
    const speed = this.speed()
    const left = this.total - this.loaded
    const eta = left === 0 ? '0s' : speed > 0 ? formatDuration(left / speed) : '--'
    const figures = [
      `${String(pct).padStart(3)}%`,
      `${mib(this.loaded)}/${mib(this.total)} MiB`,
      `${(speed / MiB).toFixed(1)} MiB/s`,
      `ETA ${eta}`,
    ]
    const label = this.label ? `${this.label} ` : ''
    if (!this.tty) return label + figures.join('  ')
    const size = options.barsize
    const done = Math.round(params.progress * size)
    return `${label}[${'='.repeat(done)}${'-'.repeat(size - done)}] ${figures.join(' | ')}`
  }
}

function mib(bytes) {
  return (bytes / MiB).toFixed(1)
}

function formatDuration(secs) {
  if (!Number.isFinite(secs)) return '--'
  const s = Math.ceil(secs)
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
}

module.exports = { ByteProgress, formatDuration, MiB }
