// Package engine runs Parley conversations: for each utterance of a user it
// selects the incoming (user) intent and the outgoing (app) intent as
// OpenDialog does, runs their actions, keeps the user's contexts and renders
// the app's messages.
//
// # Versions and concurrency
//
// An Engine holds one compiled configuration (a *dsl.Config) at a time;
// Replace (or Swap) replaces it atomically and each turn loads it once, so a
// turn runs entirely on one version. Each turn holds a reference to its
// version, and a version retired by Replace is closed when its last turn
// ends. WithWatch (for Open) and Watch reload a scenario directory whenever
// it changes, with an incremental loader, rejecting a change that does not
// load (its diagnostics are logged and published to Watcher.Subscribe and
// Watcher.Last) while the last good version keeps serving. A user whose
// turn or intent no longer exists after a reload continues from the start of
// its conversation, or afresh. Turns of one user never interleave: a per-user
// lock (striped over 256 mutexes) covers load, run and save of the user's
// state, and the store carries a version so that replicas sharing a store
// get store.ErrConflict instead of losing an update.
//
// The engine never imports a concrete plugin: interpreters and action kinds
// come from a plugins.Environment (plugins.Global() unless WithEnvironment
// says otherwise). Programs that want the built-in plugins import
// github.com/parleyhq/parley/plugins/all.
//
// # Selecting intents
//
// The candidates for the next intent of a speaker come from the user's position:
//
//   - not in a conversation: the request intents of starting turns of starting
//     scenes of starting conversations of active scenarios;
//   - after a request intent (mid-turn): the response intents of that turn;
//   - after a response intent: the request intents of the open turns of the
//     current scene and of the turns whose valid_origins hold the last intent;
//   - after a transition: the request intents of the turn named, or of the
//     starting and open turns of the scene named, or of the starting scenes
//     of the conversation named.
//
// Conditions of scenarios, conversations, scenes and turns filter their
// intents; the trace names the condition that was false. User candidates are
// interpreted by their intent's interpreter (the scenario default otherwise;
// button responses, triggers, chat openings, form responses and long text
// answers with a callback always by "callback"), must
// reach the intent's minimum confidence, and must pass their conditions with
// their interpreted attributes visible; the highest confidence wins, then
// more interpreted attributes, then declaration order. App candidates are
// taken in declaration order and the first whose conditions pass wins.
// Interpreted attributes are stored (where expected_attributes says, in the
// session context by default) only when their intent is chosen, converted to
// the attribute's declared type ("42" becomes an int for an int attribute).
//
// An utterance nothing matches escalates: intent.core.TurnNoMatch declared in
// the current turn, intent.core.SceneNoMatch in the current scene,
// intent.core.ConversationNoMatch in the current conversation, then
// intent.core.NoMatch in the current scenario (any active scenario outside a
// conversation); the first whose conditions pass becomes the incoming intent.
// When none is declared the reply is DefaultNoMatchText (WithNoMatchText)
// and the user's position does not change.
//
// After the incoming intent is recorded, its actions run and its transition
// is followed; then the outgoing intent is selected, recorded, its actions run
// and its message rendered, so its conditions and text see the actions'
// outputs. An app intent that transitions into a turn the app opens (an app
// request intent) goes on talking in the same reply; an app intent with a
// virtual intent makes that user intent the next incoming intent (by id,
// condition-checked), up to WithMaxChain app intents per utterance.
//
// A completing intent, or a response of a completing turn, ends the
// conversation after its step: the position and the session context are
// cleared and the next utterance starts afresh. (A completing behaviour on a
// conversation or scene has no effect of its own.) Reserved intents:
// a chat_open utterance means intent.core.welcome, and opening the chat
// again mid-conversation starts afresh; the callback intent.core.restart ends
// the conversation and is matched again from the start (as a chat opening
// when no starting turn declares it); the callback intent.core.endChat ends
// the conversation, answered by a declared endChat intent if one is reachable.
// A callback id is first mapped by the scenario's callbacks (OpenDialog's
// supported_callbacks: WELCOME means intent.core.welcome); a trigger of the
// welcome mid-conversation starts afresh too. The client's user attributes
// (plugins.Utterance.User) are written to the user context before the turn,
// type-checked; a bad one fails the turn with ErrInvalidAttribute.
//
// # Contexts
//
// user (persistent per user id), session (cleared when a conversation ends or
// after WithSessionTimeout of silence), conversation (read-only position:
// current_scenario, current_conversation, current_scene, current_turn,
// current_intent), global (the configuration's global values) and utterance
// (text, type, callback_id, value, platform). Declared attribute types are
// enforced in user and session on every write: SetAttribute, interpreted
// attributes and action outputs. After every action user.action_status (and
// user.action_success, the same) says whether it succeeded; its outputs are computed and type-checked first and
// applied all together or not at all. An inactive action is skipped, traced
// and counts as failed.
//
// # Traces
//
// Every Reply carries a Trace: the candidates of each selection with why each
// was rejected, the chosen intents, the actions with their inputs, outputs
// and outbound calls, and the events of the turn. It is JSON-serialisable
// and holds no secret (actions redact their own errors and calls).
package engine
