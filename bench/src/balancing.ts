/**
 * Partitioning quality and speed for every `Partitioner` algorithm, side by side with naive
 * modulo placement (`hash % n`, what consistent hashing replaces), plus the Bloom filter's size,
 * measured false-positive rate and per-operation cost. All measured in this one run.
 *
 * Quality (deterministic): K keys placed on 10, 50 and 100 equal nodes; max/mean load; keys that
 * change owner when one node is added, as a multiple of the fair share K/(n+1), and how many of
 * those moved between two old nodes (zero for a minimal-movement algorithm).
 * Speed: ns per `unsafeNodeFor` lookup over pre-built keys (median of rounds); the baseline is
 * hashing the key alone (MurmurHash3), so the overhead column is the structure's own cost.
 */
import { Hash, Partitioner } from "@rampart/balancing"
import * as BloomFilter from "@rampart/cache/BloomFilter"
import { Effect } from "effect"
import { type Case, formatNs, measure, printTable } from "./harness.js"

type AlgorithmOption = Partitioner.PartitionerOptionsInput["algorithm"]

const algorithms: ReadonlyArray<AlgorithmOption> = ["hashRing", "rendezvous", "jumpHash", "maglev"]
const nodeCounts: ReadonlyArray<number> = [10, 50, 100]

/** Something that places a key on one of its nodes, by id. */
interface Placement {
  readonly name: string
  readonly owner: (key: string) => string
}

const members = (count: number) => Array.from({ length: count }, (_, index) => ({ id: `10.0.${index >> 8}.${index & 255}:6379` }))

const makeKeys = (count: number, salt: string): Array<string> =>
  Array.from({ length: count }, (_, index) => `${salt}:${index}:${(index * 2654435761) >>> 0}`)

const partitioned = (algorithm: AlgorithmOption, count: number): Placement => {
  const partitioner = Effect.runSync(Partitioner.make({ algorithm, nodes: members(count) }))
  return { name: algorithm, owner: (key) => partitioner.unsafeNodeFor(key)!.id }
}

const modulo = (count: number): Placement => {
  const nodes = members(count)
  return { name: "modulo (hash % n)", owner: (key) => nodes[Hash.murmur3(key) % count]!.id }
}

const placementFor = (name: AlgorithmOption | "modulo", count: number): Placement =>
  name === "modulo" ? modulo(count) : partitioned(name, count)

interface Quality {
  readonly maxOverMean: number
  readonly movedOverFair: number
  readonly movedBetweenOld: number
}

const quality = (name: AlgorithmOption | "modulo", count: number, keys: ReadonlyArray<string>): Quality => {
  const before = placementFor(name, count)
  const after = placementFor(name, count + 1)
  const loads = new Map<string, number>()
  const added = members(count + 1)[count]!.id
  let moved = 0
  let movedBetweenOld = 0
  for (const key of keys) {
    const owner = before.owner(key)
    loads.set(owner, (loads.get(owner) ?? 0) + 1)
    const next = after.owner(key)
    if (next !== owner) {
      moved++
      if (next !== added) movedBetweenOld++
    }
  }
  return {
    maxOverMean: Math.max(...loads.values()) / (keys.length / count),
    movedOverFair: moved / (keys.length / (count + 1)),
    movedBetweenOld: movedBetweenOld / keys.length
  }
}

const lookupCase = (name: string, family: string, lookup: (key: string) => unknown, keys: ReadonlyArray<string>, baseline = false): Case => ({
  name,
  family,
  baseline,
  run: (iterations) => {
    const size = keys.length
    let found = 0
    for (let index = 0; index < iterations; index++) {
      if (lookup(keys[index % size]!) !== undefined) found++
    }
    if (found < 0) console.log(found)
    return Promise.resolve()
  }
})

const printRows = (title: string, header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string>>) => {
  const widths = header.map((cell, column) => Math.max(cell.length, ...rows.map((row) => row[column]!.length)))
  console.log(`\n### ${title}\n`)
  console.log(`| ${header.map((cell, column) => cell.padEnd(widths[column]!)).join(" | ")} |`)
  console.log(`| ${widths.map((width, column) => (column === 0 ? "-".repeat(width) : `${"-".repeat(width - 1)}:`)).join(" | ")} |`)
  for (const row of rows) {
    console.log(`| ${row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join(" | ")} |`)
  }
}

export const balancingBench = async (options: { readonly iterations: number; readonly rounds: number }) => {
  const keyCount = Number(process.env["BENCH_KEYS"] ?? 1_000_000)
  const keys = makeKeys(keyCount, "key")
  const names: ReadonlyArray<AlgorithmOption | "modulo"> = [...algorithms, "modulo"]

  // Lookup speed, one family per node count: baseline = hashing the key alone.
  const lookupKeys = keys.slice(0, 100_000)
  const cases: Array<Case> = []
  for (const count of nodeCounts) {
    const family = `${count} nodes`
    cases.push(lookupCase(`murmur3 only (${count})`, family, (key) => Hash.murmur3(key), lookupKeys, true))
    for (const name of names) {
      const placement = placementFor(name, count)
      cases.push(lookupCase(`${placement.name} (${count})`, family, placement.owner, lookupKeys))
    }
  }
  const speed = await measure(cases, { ...options, warmup: Math.min(options.iterations, 20_000) })
  const nsByName = new Map(speed.map((result) => [result.name, result]))

  const rows: Array<Array<string>> = []
  for (const name of names) {
    for (const count of nodeCounts) {
      const measured = quality(name, count, keys)
      const label = name === "modulo" ? "modulo (hash % n)" : name
      const timing = nsByName.get(`${label} (${count})`)!
      rows.push([
        label,
        String(count),
        measured.maxOverMean.toFixed(3),
        `${measured.movedOverFair.toFixed(2)}×`,
        `${(measured.movedBetweenOld * 100).toFixed(2)}%`,
        formatNs(timing.nsPerCall),
        formatNs(timing.overheadNs)
      ])
    }
  }
  printRows(
    `Partitioning: ${keyCount.toLocaleString("en")} keys, default options (targets: max/mean ≤ 1.10, moved ≤ 1.1 × K/(n+1))`,
    ["algorithm", "nodes", "max/mean load", "moved on add (× K/(n+1))", "moved between old nodes", "lookup", "over hashing"],
    rows
  )
  printTable("Partitioning: lookup cost per key (median of rounds; overhead over hashing the key)", speed)
  await bloomBench(options)
}

export const bloomBench = async (options: { readonly iterations: number; readonly rounds: number }) => {
  const items = Number(process.env["BENCH_BLOOM_ITEMS"] ?? 1_000_000)
  const filter = Effect.runSync(BloomFilter.make({ expectedItems: items, falsePositiveRate: 0.01 }))
  const members = makeKeys(items, "member")
  const strangers = makeKeys(items, "stranger")
  let start = process.hrtime.bigint()
  for (const item of members) filter.unsafeAdd(item)
  const fillNs = Number(process.hrtime.bigint() - start) / items
  let falseNegatives = 0
  for (const item of members) if (!filter.unsafeMightContain(item)) falseNegatives++
  let falsePositives = 0
  for (const item of strangers) if (filter.unsafeMightContain(item)) falsePositives++
  start = process.hrtime.bigint()
  const bytes = BloomFilter.unsafeToBytes(filter)
  const encodeMs = Number(process.hrtime.bigint() - start) / 1e6
  start = process.hrtime.bigint()
  const loaded = Effect.runSync(BloomFilter.fromBytes(bytes))
  const decodeMs = Number(process.hrtime.bigint() - start) / 1e6
  const agrees = strangers.slice(0, 10_000).every((item) => loaded.unsafeMightContain(item) === filter.unsafeMightContain(item))

  printRows(`Bloom filter: ${items.toLocaleString("en")} items at a 1% target (targets: ≤ 9.6 bits/item, FP in [0.8%, 1.2%])`, [
    "measure",
    "value"
  ], [
    ["bits per item", (filter.bitCount / items).toFixed(3)],
    ["hash probes (k)", String(filter.hashCount)],
    ["measured false positives", `${((falsePositives / items) * 100).toFixed(3)}% (${falsePositives} of ${items})`],
    ["false negatives", String(falseNegatives)],
    ["estimated FP rate (from fill)", `${(filter.unsafeFalsePositiveRate() * 100).toFixed(3)}%`],
    ["approximate count", String(filter.unsafeApproximateCount())],
    ["serialised size", `${(bytes.length / 1024 / 1024).toFixed(2)} MiB`],
    ["toBytes / fromBytes", `${encodeMs.toFixed(1)} ms / ${decodeMs.toFixed(1)} ms${agrees ? "" : " (MISMATCH)"}`],
    ["first fill, ns per add", formatNs(fillNs)]
  ])

  // Per-operation cost against a JavaScript Set of the same strings (exact, ~50+ bytes per item).
  const set = new Set(members.slice(0, 100_000))
  const probe = strangers.slice(0, 100_000)
  const present = members.slice(0, 100_000)
  const scratch = Effect.runSync(BloomFilter.make({ expectedItems: items, falsePositiveRate: 0.01 }))
  const pair = new Uint32Array(2)
  const cases: ReadonlyArray<Case> = [
    lookupCase("murmur3Pair only", "bloom", (key) => Hash.murmur3Pair(key, 0, pair)[0], probe, true),
    lookupCase("BloomFilter.unsafeAdd", "bloom", (key) => scratch.unsafeAdd(key), present),
    lookupCase("BloomFilter.unsafeMightContain (absent)", "bloom", (key) => filter.unsafeMightContain(key), probe),
    lookupCase("BloomFilter.unsafeMightContain (present)", "bloom", (key) => filter.unsafeMightContain(key), present),
    lookupCase("Set.has (absent, 100k strings)", "bloom", (key) => set.has(key), probe)
  ]
  printTable("Bloom filter: cost per operation (median of rounds)", await measure(cases, { ...options, warmup: Math.min(options.iterations, 20_000) }))
}
