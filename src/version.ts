// The quicsteer version (package.json's): shown by --version and in the build_info metric.
export const VERSION = '0.1.0';
