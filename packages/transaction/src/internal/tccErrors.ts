import { Schema } from "effect"

/**
 * The fence states of one TCC branch.
 */
export const TccFenceStatus = Schema.Literal("tried", "confirmed", "cancelled")
export type TccFenceStatus = typeof TccFenceStatus.Type

export class TccTryRefused extends Schema.TaggedError<TccTryRefused>("@rampart/transaction/TccTryRefused")(
  "TccTryRefused",
  {
    participant: Schema.String,
    gid: Schema.String,
    /** Why: `"cancelled"` when the branch was already cancelled (suspension), or the business reason. */
    reason: Schema.String,
    /** `true` when the fence refused a try that arrived after its cancel. */
    suspended: Schema.Boolean
  }
) {
  override get message(): string {
    return this.suspended
      ? `participant "${this.participant}" refused to try "${this.gid}": the branch was already cancelled`
      : `participant "${this.participant}" refused to try "${this.gid}": ${this.reason}`
  }
}

export class TccFenceConflict extends Schema.TaggedError<TccFenceConflict>("@rampart/transaction/TccFenceConflict")(
  "TccFenceConflict",
  {
    gid: Schema.String,
    branch: Schema.String,
    operation: Schema.Literal("confirm", "cancel"),
    /** The branch's state in the fence; `absent` when it has no fence row. */
    status: Schema.Literal("tried", "confirmed", "cancelled", "absent")
  }
) {
  override get message(): string {
    return `cannot ${this.operation} branch "${this.branch}" of "${this.gid}": it is ${this.status}`
  }
}

export const isTccTryRefused = (u: unknown): u is TccTryRefused => u instanceof TccTryRefused
export const isTccFenceConflict = (u: unknown): u is TccFenceConflict => u instanceof TccFenceConflict
