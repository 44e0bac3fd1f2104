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
	"errors"
	"time"
)

// ErrConflict is returned by Save when the stored state changed since it was loaded.
var ErrConflict = errors.New("state changed since it was loaded")

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

// Store loads and saves user states. Implementations must be safe for concurrent use.
type Store interface {
	// Load returns the state of userID; a user never saved has the zero State.
	Load(ctx context.Context, userID string) (State, error)
	// Save stores st for userID if the stored version still equals st.Version
	// (zero: not stored yet) and returns the new version; otherwise it returns
	// ErrConflict and stores nothing. The store keeps st's maps as they are.
	Save(ctx context.Context, userID string, st State) (uint64, error)
	// Delete forgets userID. Deleting an unknown user is not an error.
	Delete(ctx context.Context, userID string) error
	// Close releases the store's resources.
	Close() error
}
