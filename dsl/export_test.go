package dsl

// WriteScenarioForTest lets the external tests generate benchmark scenarios.
var WriteScenarioForTest = writeScenario
