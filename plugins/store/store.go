// Package store keeps each user's conversation state: where the user is in a
// scenario and their user and session contexts.
//
// The engine serialises the turns of one user with a lock, loads the state,
// runs the turn and saves it. Every State carries a version so that a store
// shared by several engine replicas can refuse a save made from a stale
// state (optimistic concurrency) with ErrConflict.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// ErrConflict is returned by Save when the stored state changed since it was loaded.
var ErrConflict = errors.New("state changed since it was loaded")

// ErrLeaseHeld is returned by Leaser.Lease when another process kept the
// user's lease for as long as the caller was willing to wait.
var ErrLeaseHeld = errors.New("another process holds the user's lease")

// ErrUnavailable is wrapped by stores whose backing service cannot be
// reached; a server answers it as 503 Service Unavailable.
var ErrUnavailable = errors.New("store is unavailable")

// DefaultHistoryLimit is how many turns of history a store keeps per user
// unless it is configured otherwise.
const DefaultHistoryLimit = 100

// Phase says where a user stands inside the current turn.
type Phase string

// Phases.
const (
	// PhaseNone: not in a conversation; the next intent starts one.
	PhaseNone Phase = ""
	// PhaseEnter: a transition named a conversation, scene or turn; the next intent enters it.
	PhaseEnter Phase = "enter"
	// PhaseRequest: the last intent was a turn's request; the turn awaits a response.
	PhaseRequest Phase = "request"
	// PhaseResponse: the last intent was a turn's response; the turn is done.
	PhaseResponse Phase = "response"
)

// State is one user's conversation state.
//
// The maps are treated as immutable once saved: the engine copies a map
// before changing it, so a store may hand out the maps it holds and keep
// the maps it is given without copying them.
type State struct {
	// Version is the version loaded from the store; zero for a user never saved.
	Version uint64 `json:"version"`
	// Scenario, Conversation, Scene and Turn name the current position; empty
	// Conversation means the user is not in a conversation.
	Scenario     string `json:"scenario,omitempty"`
	Conversation string `json:"conversation,omitempty"`
	Scene        string `json:"scene,omitempty"`
	Turn         string `json:"turn,omitempty"`
	// Intent is the id of the last intent.
	Intent string `json:"intent,omitempty"`
	// Phase says where the user stands inside the current turn.
	Phase Phase `json:"phase,omitempty"`
	// User is the persistent user context.
	User map[string]any `json:"user,omitempty"`
	// Session is the context of the current conversation session.
	Session map[string]any `json:"session,omitempty"`
	// Updated is when the state was last saved by a turn.
	Updated time.Time `json:"updated"`
}

// HistoryEntry is one turn in a user's history. The engine fills it; a
// store keeps it as it is. Utterance and Messages are JSON so that stores
// need not know the engine's types.
type HistoryEntry struct {
	// Time is when the turn started.
	Time time.Time `json:"time"`
	// ConfigVersion is the version of the configuration the turn ran on.
	ConfigVersion string `json:"config_version,omitempty"`
	// Utterance is what the user sent, as the engine traces it (engine.Utterance).
	Utterance json.RawMessage `json:"utterance,omitempty"`
	// Intents are the ids of the intents chosen in the turn, in order.
	Intents []string `json:"intents,omitempty"`
	// Messages are the app's messages of the turn ([]engine.Message).
	Messages json.RawMessage `json:"messages,omitempty"`
}

// Store loads and saves user states. Implementations must be safe for concurrent use.
type Store interface {
	// Load returns the state of userID; a user never saved has the zero State.
	Load(ctx context.Context, userID string) (State, error)
	// Save stores st for userID if the stored version still equals st.Version
	// (zero: not stored yet) and returns the new version; otherwise it returns
	// ErrConflict and stores nothing. When entry is not nil it is appended to
	// the user's history in the same atomic write, and the history is trimmed
	// to the store's limit (oldest entries go first). The store keeps st's
	// maps as they are.
	Save(ctx context.Context, userID string, st State, entry *HistoryEntry) (uint64, error)
	// History returns the newest limit entries of userID's history, oldest
	// first; limit <= 0 means every entry kept. An unknown user has none.
	History(ctx context.Context, userID string, limit int) ([]HistoryEntry, error)
	// Delete forgets userID: state and history. Deleting an unknown user is not an error.
	Delete(ctx context.Context, userID string) error
	// Close releases the store's resources.
	Close() error
}

// Leaser is implemented by stores that several processes share. The engine
// takes a user's lease (after its own per-user lock) before a turn or a
// context write and releases it after the save, so that one user's turns
// never run in two processes at once.
type Leaser interface {
	// Lease takes userID's lease, waiting while another holder has it until
	// ctx is done; it then fails with an error wrapping ErrLeaseHeld. The
	// returned context derives from ctx and carries the lease: a Save made
	// with it must be refused if the lease was lost meanwhile (fencing). It
	// is cancelled when the lease is lost. release must be called exactly
	// once, after the save.
	Lease(ctx context.Context, userID string) (leased context.Context, release func(), err error)
}

// Pinger is implemented by stores backed by a service that can go away (a
// Redis server). A server's readiness check calls Ping; an error, wrapping
// ErrUnavailable when the service cannot be reached, means not ready.
type Pinger interface {
	// Ping checks that the store can serve requests now.
	Ping(ctx context.Context) error
}
