// Placeholder until the database harness lands: the suite needs no global services yet.
export default function setup(): void {}
