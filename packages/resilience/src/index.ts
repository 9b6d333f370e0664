/**
 * @since 0.1.0
 */
export * as Errors from "./Errors.js"
export * as Policy from "./Policy.js"
