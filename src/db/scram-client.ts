// A node-postgres client for the embedded PostgreSQL, whose password must never reach another
// program listening on its port. node-postgres answers whatever password request a server sends:
// a cleartext request would get the password itself, an MD5 one a hash that logs in as well. This
// client answers only a SCRAM-SHA-256 exchange, which gives a stranger nothing it can use (the
// password is 32 random bytes: no guessing it from the exchange), and whose last message proves the
// server holds the password's verifier: only the data folder the password was set in has it.
import pg from 'pg';

export class PasswordRequestRefusedError extends Error {
  readonly code = 'EMBEDDED_PG_NOT_SCRAM';
}

export class ScramOnlyClient extends pg.Client {
  #serverProved = false;

  constructor(config?: string | pg.ClientConfig) {
    super(config);
    // The server's final SCRAM message carries its signature, which node-postgres checks next and
    // fails the connection on when it does not match: a connection that opens after it is proved.
    this.connection.on('authenticationSASLFinal', () => {
      this.#serverProved = true;
    });
    // A server that lets us in without any exchange has proved nothing: a stranger that took the
    // port (the embedded server stopped meanwhile) would then be sent every query of the pool.
    this.connection.on('authenticationOk', () => {
      if (!this.#serverProved) this.refuse('let us in without proving that it holds the password');
    });
  }

  /** The server proved, by SCRAM, that it holds this password's verifier (and not just let us in). */
  get serverProved(): boolean {
    return this.#serverProved;
  }

  // node-postgres's handlers for the password requests other than SCRAM, which its connect()
  // binds by these names: the connection fails instead of answering them.
  _handleAuthCleartextPassword(): void {
    this.refuse('asked for the password in cleartext');
  }

  _handleAuthMD5Password(): void {
    this.refuse('asked for an MD5 password hash');
  }

  private refuse(request: string): void {
    this.connection.emit(
      'error',
      new PasswordRequestRefusedError(
        `the server on ${this.host}:${this.port} ${request}; this client answers SCRAM only`,
      ),
    );
    this.connection.stream.destroy();
  }
}
