/**
 * A small benchmark harness. Every case of one suite runs in the same process and is
 * interleaved round by round, so machine noise hits all of them alike; a case's figure is the
 * median over the rounds. Benchmarks run compiled JavaScript (tsc output), never through a
 * transpiling loader that rewrites closures.
 */

export interface Case {
  readonly name: string
  /** Which side's baseline this case is compared with. */
  readonly family: string
  /** True for the family's baseline. */
  readonly baseline?: boolean
  /** Runs `iterations` calls and resolves when they are done. */
  readonly run: (iterations: number) => Promise<void>
}

export interface Result {
  readonly name: string
  readonly family: string
  readonly baseline: boolean
  readonly nsPerCall: number
  readonly overheadNs: number
}

const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

export const measure = async (
  cases: ReadonlyArray<Case>,
  options: { readonly iterations: number; readonly rounds: number; readonly warmup: number }
): Promise<ReadonlyArray<Result>> => {
  for (const benchCase of cases) await benchCase.run(options.warmup)
  const samples = new Map<string, Array<number>>()
  for (let round = 0; round < options.rounds; round++) {
    for (const benchCase of cases) {
      const start = process.hrtime.bigint()
      await benchCase.run(options.iterations)
      const elapsed = Number(process.hrtime.bigint() - start)
      const list = samples.get(benchCase.name) ?? []
      list.push(elapsed / options.iterations)
      samples.set(benchCase.name, list)
    }
  }
  const baselines = new Map<string, number>()
  for (const benchCase of cases) {
    if (benchCase.baseline === true) baselines.set(benchCase.family, median(samples.get(benchCase.name)!))
  }
  return cases.map((benchCase) => {
    const nsPerCall = median(samples.get(benchCase.name)!)
    return {
      name: benchCase.name,
      family: benchCase.family,
      baseline: benchCase.baseline === true,
      nsPerCall,
      overheadNs: nsPerCall - (baselines.get(benchCase.family) ?? 0)
    }
  })
}

const pad = (text: string, width: number) => text.padEnd(width)
const padLeft = (text: string, width: number) => text.padStart(width)

export const formatNs = (ns: number): string =>
  Math.abs(ns) >= 10_000 ? `${(ns / 1000).toFixed(1)} µs` : `${ns.toFixed(0)} ns`

/** Prints a Markdown table; `ratios` adds one column per (label, reference case name). */
export const printTable = (
  title: string,
  results: ReadonlyArray<Result>,
  ratios: ReadonlyArray<{ readonly label: string; readonly against: (result: Result) => string | undefined }> = []
): void => {
  const byName = new Map(results.map((result) => [result.name, result]))
  const header = ["case", "ns/call", "overhead", ...ratios.map((ratio) => ratio.label)]
  const rows = results.map((result) => [
    result.name,
    formatNs(result.nsPerCall),
    result.baseline ? "(baseline)" : formatNs(result.overheadNs),
    ...ratios.map((ratio) => {
      const otherName = ratio.against(result)
      const other = otherName === undefined ? undefined : byName.get(otherName)
      if (other === undefined || other === result || result.baseline) return ""
      const ours = Math.max(result.overheadNs, 1)
      return `${(other.overheadNs / ours).toFixed(1)}×`
    })
  ])
  const widths = header.map((cell, column) => Math.max(cell.length, ...rows.map((row) => row[column]!.length)))
  console.log(`\n### ${title}\n`)
  console.log(`| ${header.map((cell, column) => pad(cell, widths[column]!)).join(" | ")} |`)
  console.log(`| ${widths.map((width, column) => (column === 0 ? "-".repeat(width) : `${"-".repeat(width - 1)}:`)).join(" | ")} |`)
  for (const row of rows) {
    console.log(`| ${row.map((cell, column) => (column === 0 ? pad(cell, widths[column]!) : padLeft(cell, widths[column]!))).join(" | ")} |`)
  }
}

export const heapUsedAfterGc = (): number => {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc !== undefined) {
    gc()
    gc()
  }
  return process.memoryUsage().heapUsed
}
