/** The decision behind `Services.check`, with its effects injected so it can be tested. */

/** What each known binary is, and the Debian package that ships it. */
const known: Readonly<Record<string, { readonly product: string; readonly aptPackage: string }>> = {
  "redis-server": { product: "Redis", aptPackage: "redis-server" },
  etcd: { product: "etcd", aptPackage: "etcd-server" },
  postgres: { product: "PostgreSQL", aptPackage: "postgresql" },
  initdb: { product: "PostgreSQL", aptPackage: "postgresql" },
  pg_ctl: { product: "PostgreSQL", aptPackage: "postgresql" }
}

export const isRequired = (env: Readonly<Record<string, string | undefined>>): boolean => {
  const value = env["RAMPART_REQUIRE_SERVICES"]
  return value !== undefined && value !== "" && value !== "0" && value.toLowerCase() !== "false"
}

export interface CheckEffects {
  readonly required: boolean
  readonly find: (binary: string) => string | undefined
  /** Prints the one loud line. */
  readonly report: (line: string) => void
  /** Registers a test that fails with this message. */
  readonly registerFailure: (testName: string, message: string) => void
}

export interface ServiceCheck {
  readonly binary: string
  readonly available: boolean
  readonly path: string | undefined
  readonly required: boolean
}

export const checkWith = (binary: string, effects: CheckEffects): ServiceCheck => {
  const path = effects.find(binary)
  if (path === undefined) {
    const product = known[binary]?.product ?? binary
    const aptPackage = known[binary]?.aptPackage ?? binary
    const what = `${binary} not found on PATH or in the known directories; integration tests against ${product}`
    if (effects.required) {
      effects.report(`*** FAILED: ${what} cannot run, and RAMPART_REQUIRE_SERVICES=1 requires them ***`)
      effects.registerFailure(
        `requires ${binary} (RAMPART_REQUIRE_SERVICES=1)`,
        `${what} cannot run, and RAMPART_REQUIRE_SERVICES=1 requires them (apt-get install -y ${aptPackage})`
      )
    } else {
      effects.report(`*** SKIPPED: ${what} skipped (apt-get install -y ${aptPackage} to run them) ***`)
    }
  }
  return { binary, available: path !== undefined, path, required: effects.required }
}
