'use strict'
// A hand-written SVG of bench results: four panels (throughput, CPU s/GiB, peak RSS, event-loop delay p99),
// each a group of horizontal bars per case, one bar per contender (medians); the many-small-files cases get
// four panels of their own below (files/s, CPU s per 1,000 files, peak RSS, event-loop delay p99).

const fs = require('fs')

const COLORS = { 'oss-turbo': '#d9480f', 'ali-oss': '#1c7ed6', opendal: '#37b24d', raw: '#868e96' }
const NAMES = {
  'oss-turbo': 'oss-turbo',
  'ali-oss': 'ali-oss 6.23.0',
  opendal: 'opendal 0.49.2 (Node)',
  raw: 'raw client (ceiling)',
}
const MiB = 1024 * 1024

const PANELS = [
  { metric: 'mibps', title: 'Throughput, MiB/s (higher is better)', digits: 0 },
  { metric: 'cpuSecPerGiB', title: 'CPU seconds per GiB, user+sys (lower is better)', digits: 2 },
  { metric: 'maxRssMiB', title: 'Peak RSS, MiB (lower is better)', digits: 0 },
  { metric: 'eldP99Ms', title: 'Event-loop delay p99, ms (lower is better)', digits: 1, skip: ['raw'] },
]

const FILE_PANELS = [
  { metric: 'filesPerSec', title: 'Files per second (higher is better)', digits: 0 },
  { metric: 'cpuSecPer1kFiles', title: 'CPU seconds per 1,000 files, user+sys (lower is better)', digits: 2 },
  { metric: 'maxRssMiB', title: 'Peak RSS, MiB (lower is better)', digits: 0 },
  { metric: 'eldP99Ms', title: 'Event-loop delay p99, ms (lower is better)', digits: 1 },
]

const VARIANT_COLORS = ['#f08c00', '#ae3ec9', '#0ca678', '#e64980']
const color = (k, i) => COLORS[k] || VARIANT_COLORS[i % VARIANT_COLORS.length]
const nameOf = (k) => NAMES[k] || k

function esc(s) {
  return String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
}

function shortLabel(c) {
  if (c.kind === 'files')
    return `${c.count} × ${c.fileSize / 1024} KiB · ${c.method === 'put' ? 'put' : 'multipartUpload'}`
  const size = c.size >= 1024 * MiB ? `${c.size / (1024 * MiB)} GiB` : `${c.size / MiB} MiB`
  const [ps, par] = c.eff || [c.partSize, c.parallel]
  return `${c.tls ? 'HTTPS · ' : ''}${size}${c.input === 'buffer' ? ' Buffer' : ''} · ${ps / MiB} MiB × ${par}`
}

// An axis maximum of 4 round steps (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^k) that holds v.
function niceMax(v) {
  if (!(v > 0)) return 1
  const raw = v / 4
  const p = Math.pow(10, Math.floor(Math.log10(raw)))
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= raw) return 4 * m * p
  return 40 * p
}

function tickLabel(v) {
  return String(+v.toPrecision(3))
}

function render(results) {
  const contenders = results.contenders
  const sections = [
    { cases: results.cases.filter((c) => c.kind !== 'files'), panels: PANELS, title: null },
    {
      cases: results.cases.filter((c) => c.kind === 'files'),
      panels: FILE_PANELS,
      title: 'Many small files: each file its own call on one client, 16 calls in flight (plain HTTP)',
    },
  ].filter((sec) => sec.cases.length > 0)
  const W = 1000
  const panelW = 480
  const gap = 40
  const labelW = 170
  const barH = 11
  const barGap = 2
  const groupGap = 16
  const groupH = (n) => n * (barH + barGap) + groupGap
  const top = 92
  const panelTitleH = 26
  const axisH = 22

  const out = []
  const sectionTitleH = 28
  for (const sec of sections) {
    sec.panelH = panelTitleH + sec.cases.length * groupH(contenders.length) + axisH
    sec.height = (sec.title ? sectionTitleH : 0) + 2 * sec.panelH + 2 * gap
  }
  const H = top + sections.reduce((h, sec) => h + sec.height, 0) + 12
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
  )
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`)
  const m = results.machine
  out.push(
    `<text x="20" y="28" font-size="17" font-weight="bold">oss-turbo vs ali-oss — multipartUpload to a local OSS emulator (--bench mode)</text>`,
  )
  out.push(
    `<text x="20" y="47" fill="#495057">Medians of ${results.options.pairs} alternating round(s), each upload in its own process; ${esc(m.cpu || '')} × ${m.cores} cores, ${esc(m.node)}, ${esc(
      (m.date || '').slice(0, 10),
    )}${results.options.quick ? ' — QUICK smoke run, reduced sizes' : ''}</text>`,
  )
  // Legend.
  let lx = 20
  contenders.forEach((k, i) => {
    out.push(`<rect x="${lx}" y="60" width="12" height="12" fill="${color(k, i)}"/>`)
    out.push(`<text x="${lx + 17}" y="70">${esc(nameOf(k))}</text>`)
    lx += 30 + nameOf(k).length * 6.2
  })

  let secTop = top
  for (const sec of sections) {
    if (sec.title) {
      out.push(`<text x="20" y="${secTop + 16}" font-size="15" font-weight="bold">${esc(sec.title)}</text>`)
      secTop += sectionTitleH
    }
    renderPanels(out, sec, secTop, { contenders, panelW, gap, labelW, barH, barGap, groupGap, panelTitleH })
    secTop += sec.height - (sec.title ? sectionTitleH : 0)
  }
  out.push(
    `<text x="20" y="${H - 26}" fill="#868e96" font-size="10">Peak RSS is the whole process: Node itself (~47 MiB) and, in the Buffer case, the 256 MiB Buffer. Event-loop delay: perf_hooks.monitorEventLoopDelay at ${results.options.eldResolutionMs} ms resolution</text>`,
  )
  out.push(
    `<text x="20" y="${H - 13}" fill="#868e96" font-size="10">(values include the sampling interval). Ceiling: a raw Rust client, unsigned plain PUTs of the same parts, no hashing. Every upload verified (size and CRC-64). Dashed red: targets.</text>`,
  )
  out.push('</svg>')
  return out.join('\n') + '\n'
}

function renderPanels(out, sec, top, { contenders, panelW, gap, labelW, barH, barGap, groupGap, panelTitleH }) {
  const cases = sec.cases
  const panelH = sec.panelH
  sec.panels.forEach((p, i) => {
    const x0 = 20 + (i % 2) * (panelW + gap)
    const y0 = top + Math.floor(i / 2) * (panelH + gap)
    const shown = contenders.filter((k) => !(p.skip || []).includes(k))
    const values = cases.flatMap((c) => shown.map((k) => c.medians[k]?.[p.metric])).filter((v) => typeof v === 'number')
    // Leave room for the 10 ms target line (and its label) in the event-loop panel.
    const max = niceMax(Math.max(p.metric === 'eldP99Ms' ? 11 : 0, ...values))
    const barW = panelW - labelW - 50
    out.push(`<text x="${x0}" y="${y0 + 14}" font-size="13" font-weight="bold">${esc(p.title)}</text>`)
    let y = y0 + panelTitleH
    for (const c of cases) {
      const gh = contenders.length * (barH + barGap)
      out.push(
        `<text x="${x0 + labelW - 8}" y="${y + gh / 2 - 1}" text-anchor="end" font-weight="bold">${esc(shortLabel(c))}</text>`,
      )
      if (p.metric === 'filesPerSec' && c.ratios['ali-oss']?.throughput != null) {
        out.push(
          `<text x="${x0 + labelW - 8}" y="${y + gh / 2 + 12}" text-anchor="end" fill="#d9480f">${esc(`${c.ratios['ali-oss'].throughput.toFixed(1)}× ali-oss`)}</text>`,
        )
      } else if (p.metric === 'cpuSecPer1kFiles' && c.ratios['ali-oss']?.cpu != null) {
        out.push(
          `<text x="${x0 + labelW - 8}" y="${y + gh / 2 + 12}" text-anchor="end" fill="#d9480f">${esc(`${c.ratios['ali-oss'].cpu.toFixed(2)}× ali-oss's CPU`)}</text>`,
        )
      } else if (p.metric === 'mibps' && c.ratios['ali-oss']?.throughput != null) {
        const note = [`${c.ratios['ali-oss'].throughput.toFixed(1)}× ali-oss`]
        if (c.ceilingFraction != null) note.push(`${(c.ceilingFraction * 100).toFixed(0)}% of ceiling`)
        out.push(
          `<text x="${x0 + labelW - 8}" y="${y + gh / 2 + 12}" text-anchor="end" fill="#d9480f">${esc(note.join(' · '))}</text>`,
        )
      } else if (p.metric === 'cpuSecPerGiB' && c.ratios['ali-oss']?.cpu != null) {
        out.push(
          `<text x="${x0 + labelW - 8}" y="${y + gh / 2 + 12}" text-anchor="end" fill="#d9480f">${esc(`${c.ratios['ali-oss'].cpu.toFixed(2)}× ali-oss's CPU`)}</text>`,
        )
      }
      for (const [ci, k] of contenders.entries()) {
        const v = c.medians[k]?.[p.metric]
        if ((p.skip || []).includes(k) || (c.contenders && !c.contenders.includes(k))) {
          y += barH + barGap
          continue
        }
        if (typeof v === 'number') {
          const w = Math.max(1, (v / max) * barW)
          out.push(
            `<rect x="${x0 + labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${color(k, ci)}"><title>${esc(`${nameOf(k)}: ${v.toFixed(p.digits)}`)}</title></rect>`,
          )
          out.push(
            `<text x="${(x0 + labelW + w + 4).toFixed(1)}" y="${y + barH - 2}" font-size="10" fill="#343a40">${v.toFixed(p.digits)}</text>`,
          )
        } else {
          out.push(`<text x="${x0 + labelW + 4}" y="${y + barH - 2}" font-size="10" fill="#c92a2a">no result</text>`)
        }
        y += barH + barGap
      }
      y += groupGap
    }
    // Axis.
    out.push(`<line x1="${x0 + labelW}" y1="${y0 + panelTitleH - 4}" x2="${x0 + labelW}" y2="${y}" stroke="#adb5bd"/>`)
    out.push(`<line x1="${x0 + labelW}" y1="${y}" x2="${x0 + labelW + barW}" y2="${y}" stroke="#adb5bd"/>`)
    for (let t = 0; t <= 4; t++) {
      const tx = x0 + labelW + (barW * t) / 4
      const tv = (max * t) / 4
      out.push(`<line x1="${tx}" y1="${y}" x2="${tx}" y2="${y + 4}" stroke="#adb5bd"/>`)
      out.push(
        `<text x="${tx}" y="${y + 15}" text-anchor="middle" font-size="10" fill="#495057">${tickLabel(tv)}</text>`,
      )
    }
    if (p.metric === 'eldP99Ms') {
      const tx = x0 + labelW + (10 / max) * barW
      if (10 <= max) {
        out.push(
          `<line x1="${tx}" y1="${y0 + panelTitleH - 4}" x2="${tx}" y2="${y}" stroke="#c92a2a" stroke-dasharray="4 3"><title>target: 10 ms</title></line>`,
        )
        out.push(`<text x="${tx + 3}" y="${y0 + panelTitleH + 4}" font-size="9" fill="#c92a2a">target 10 ms</text>`)
      }
    }
    if (p.metric === 'maxRssMiB') {
      const tx = x0 + labelW + (100 / max) * barW
      if (100 <= max) {
        out.push(
          `<line x1="${tx}" y1="${y0 + panelTitleH - 4}" x2="${tx}" y2="${y}" stroke="#c92a2a" stroke-dasharray="4 3"><title>target for 1 GiB at 64 MiB × 8: 100 MiB</title></line>`,
        )
        out.push(
          `<text x="${tx + 3}" y="${y0 + panelTitleH + 4}" font-size="9" fill="#c92a2a">${sec.panels === FILE_PANELS ? '100 MiB (target)' : '100 MiB (target at 64 MiB × 8)'}</text>`,
        )
      }
    }
  })
}

function writeChart(results, file) {
  fs.writeFileSync(file, render(results))
}

module.exports = { writeChart, render }
