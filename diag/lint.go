package diag

// Stable codes of the lints of `parley validate` (package lint): warnings,
// errors with --strict, each silenced at its place by a comment
// "parley:ignore CODE" on its line or the line above.
const (
	CodeLintUnknownAttribute  = "lint.unknown_attribute"   // an expression reads a user or session attribute nothing declares or sets
	CodeLintUnreachableTurn   = "lint.unreachable_turn"    // no conversation can reach a turn
	CodeLintUnreachableIntent = "lint.unreachable_intent"  // no conversation can reach an intent of a reachable turn
	CodeLintUnacceptedButton  = "lint.unaccepted_button"   // a button whose callback no turn accepts after its message
	CodeLintUnusedAction      = "lint.unused_action"       // an action no intent uses
	CodeLintUnreadOutput      = "lint.unread_output"       // an action output nothing reads
	CodeLintImpossibleOrigin  = "lint.impossible_origin"   // a valid_origins entry that can never precede its turn
	CodeLintShadowedIntent    = "lint.shadowed_intent"     // an app intent after one whose conditions always pass
	CodeLintDuplicateUtter    = "lint.duplicate_utterance" // two user intents of one candidate set share an utterance
)
