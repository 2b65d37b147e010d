// The shared test helpers (`SplitMix64`, `HandSignedToken`), for every file of this target.
@_exported import TestSupport
