export interface Credentials {
  username: string;
  password: string;
}

/** An OCI content descriptor, reduced to what the tests compare. */
export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

export interface Platform {
  os: string;
  architecture: string;
}
