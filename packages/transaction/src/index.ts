/**
 * Distributed transactions for Effect: two-phase commit, three-phase commit, saga and TCC, each
 * writing a durable log before it acts and recovering from it after a crash.
 *
 * @since 0.1.0
 */

/**
 * The typed errors of the transaction protocols.
 *
 * @since 0.1.0
 */
export * as Errors from "./Errors.js"

/**
 * Fault injection: crash points and a lossy network for the protocols' tests.
 *
 * @since 0.1.0
 */
export * as Faults from "./Faults.js"

/**
 * Global transaction ids, validated strictly (they end up in SQL literals).
 *
 * @since 0.1.0
 */
export * as Gid from "./Gid.js"

/**
 * The two-phase-commit participant interface.
 *
 * @since 0.1.0
 */
export * as Participant from "./Participant.js"

/**
 * The PostgreSQL 2PC participant: PREPARE TRANSACTION on a reserved connection, and the orphan sweep.
 *
 * @since 0.1.0
 */
export * as PgParticipant from "./PgParticipant.js"

/**
 * Sagas: orchestrated steps with compensations registered before each action, a durable log and resume.
 *
 * @since 0.1.0
 */
export * as Saga from "./Saga.js"

/**
 * TCC (try-confirm-cancel): a coordinator with a log, and participants behind a fence.
 *
 * @since 0.1.0
 */
export * as Tcc from "./Tcc.js"

/**
 * The TCC fence (barrier) log: idempotent confirm and cancel, empty rollback, no suspension; memory and SQL.
 *
 * @since 0.1.0
 */
export * as TccFence from "./TccFence.js"

/**
 * Three-phase commit with participant-side timeouts (and its partition limitation, documented).
 *
 * @since 0.1.0
 */
export * as ThreePhaseCommit from "./ThreePhaseCommit.js"

/**
 * The write-ahead transaction log: memory, SQLite and PostgreSQL.
 *
 * @since 0.1.0
 */
export * as TransactionLog from "./TransactionLog.js"

/**
 * The two-phase-commit coordinator: presumed abort, logged decision, retried phase two, recovery.
 *
 * @since 0.1.0
 */
export * as TwoPhaseCommit from "./TwoPhaseCommit.js"
