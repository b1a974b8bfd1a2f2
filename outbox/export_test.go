package outbox

// TrimLimit is trimLimit, for the external tests.
const TrimLimit = trimLimit
