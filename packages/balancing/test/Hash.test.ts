import { describe, expect, it } from "@effect/vitest"
import { FastCheck } from "effect"
import * as Hash from "../src/Hash.js"
import * as JumpHash from "../src/JumpHash.js"

const utf8 = (text: string) => new TextEncoder().encode(text)

/** Any UTF-16 string, lone surrogates included. */
const anyString = FastCheck.string({
  unit: FastCheck.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code)),
  maxLength: 40
})
const uint32 = FastCheck.integer({ min: 0, max: 0xffffffff })

describe("Hash.murmur3", () => {
  // Published MurmurHash3 x86_32 vectors (SMHasher's reference code; Ian Boyd's verification table).
  const stringVectors: ReadonlyArray<readonly [string, number, number]> = [
    ["", 0, 0x00000000],
    ["", 1, 0x514e28b7],
    ["", 0xffffffff, 0x81f16f39],
    ["\0\0\0\0", 0, 0x2362f9de],
    ["a", 0x9747b28c, 0x7fa09ea6],
    ["ab", 0x9747b28c, 0x74875592],
    ["abc", 0x9747b28c, 0xc84a62dd],
    ["abcd", 0x9747b28c, 0xf0478627],
    ["aa", 0x9747b28c, 0x5d211726],
    ["aaa", 0x9747b28c, 0x283e0130],
    ["aaaa", 0x9747b28c, 0x5a97808a],
    ["Hello, world!", 0x9747b28c, 0x24884cba],
    ["ππππππππ", 0x9747b28c, 0xd58063c1],
    ["a".repeat(256), 0x9747b28c, 0x37405bdc],
    ["abc", 0, 0xb3dd93fa],
    ["abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 0, 0xee925b90],
    ["The quick brown fox jumps over the lazy dog", 0x9747b28c, 0x2fa826cd],
    ["test", 0, 0xba6bd213]
  ]
  it.each(stringVectors)("hashes %j with seed %d to the published value", (input, seed, expected) => {
    expect(Hash.murmur3(input, seed)).toBe(expected)
    expect(Hash.murmur3Bytes(utf8(input), seed)).toBe(expected)
  })

  const byteVectors: ReadonlyArray<readonly [ReadonlyArray<number>, number, number]> = [
    [[0xff, 0xff, 0xff, 0xff], 0, 0x76293b50],
    [[0x21, 0x43, 0x65, 0x87], 0, 0xf55b516b],
    [[0x21, 0x43, 0x65, 0x87], 0x5082edee, 0x2362f9de],
    [[0x21, 0x43, 0x65], 0, 0x7e4a8634],
    [[0x21, 0x43], 0, 0xa0f7b07a],
    [[0x21], 0, 0x72661cf4],
    [[0, 0, 0], 0, 0x85f0b427],
    [[0, 0], 0, 0x30f4c306],
    [[0], 0, 0x514e28b7]
  ]
  it.each(byteVectors)("hashes bytes %j with seed %d to the published value", (bytes, seed, expected) => {
    expect(Hash.murmur3Bytes(new Uint8Array(bytes), seed)).toBe(expected)
  })

  it.prop("hashes a string exactly as its UTF-8 bytes (lone surrogates as U+FFFD)", [anyString, uint32], ([input, seed]) => {
    expect(Hash.murmur3(input, seed)).toBe(Hash.murmur3Bytes(utf8(input), seed))
  }, { fastCheck: { numRuns: 300 } })

  it("defaults the seed to 0 and returns unsigned 32-bit integers", () => {
    expect(Hash.murmur3("abc")).toBe(0xb3dd93fa)
    expect(Hash.murmur3("abc")).toBeGreaterThan(0x7fffffff)
  })
})

describe("Hash.murmur3Pair", () => {
  it.prop("writes the hashes under seed and pairSeed(seed) in one pass", [anyString, uint32], ([input, seed]) => {
    const out = new Uint32Array(2)
    expect(Hash.murmur3Pair(input, seed, out)).toBe(out)
    expect(out[0]).toBe(Hash.murmur3(input, seed))
    expect(out[1]).toBe(Hash.murmur3(input, Hash.pairSeed(seed)))
  }, { fastCheck: { numRuns: 300 } })

  it("derives the second seed by adding 0x9e3779b9 modulo 2^32", () => {
    expect(Hash.pairSeed(0)).toBe(0x9e3779b9)
    expect(Hash.pairSeed(0xffffffff)).toBe(0x9e3779b8)
  })
})

describe("Hash.combine", () => {
  it.prop("is MurmurHash3 of the value's 4 little-endian bytes seeded with the first", [uint32, uint32], ([seed, value]) => {
    const bytes = new Uint8Array(4)
    new DataView(bytes.buffer).setUint32(0, value, true)
    expect(Hash.combine(seed, value)).toBe(Hash.murmur3Bytes(bytes, seed))
  })
})

/** The paper's reference code, with BigInt standing in for uint64_t. */
const referenceJump = (key: bigint, buckets: number): number => {
  let b = -1n
  let j = 0n
  let k = key
  while (j < BigInt(buckets)) {
    b = j
    k = (k * 2862933555777941757n + 1n) & 0xffffffffffffffffn
    j = BigInt(Math.floor(Number(b + 1n) * (Number(1n << 31n) / Number((k >> 33n) + 1n))))
  }
  return Number(b)
}

describe("JumpHash.bucket", () => {
  it.prop(
    "matches the reference 64-bit implementation",
    [uint32, uint32, FastCheck.integer({ min: 1, max: 100_000 })],
    ([high, low, buckets]) => {
      expect(JumpHash.bucket(high, low, buckets)).toBe(referenceJump((BigInt(high) << 32n) | BigInt(low), buckets))
    },
    { fastCheck: { numRuns: 500 } }
  )

  it("gives the values of published test vectors (dgryski/go-jump)", () => {
    expect(JumpHash.bucket(0, 1, 1)).toBe(0)
    expect(JumpHash.bucket(0, 42, 57)).toBe(43)
    expect(JumpHash.bucket(0, 0xdead10cc, 1)).toBe(0)
    expect(JumpHash.bucket(0, 0xdead10cc, 666)).toBe(361)
    expect(JumpHash.bucket(0, 256, 1024)).toBe(520)
    expect(JumpHash.bucket(0xffffffff, 0xffffffff, 1 << 20)).toBe(referenceJump(0xffffffffffffffffn, 1 << 20))
    expect(JumpHash.bucket(0, 0, 0)).toBe(-1)
  })
})
