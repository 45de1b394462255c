/**
 * @peculiar/x509, set up once: its dependency-injection container (tsyringe) needs the
 * `reflect-metadata` polyfill loaded first, and it signs and hashes through a WebCrypto
 * provider, Node's here. Every use of the library in this package goes through this module.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export { x509, webcrypto };
