/* SPDX-License-Identifier: MIT */
/* The mqttmux CLI's message commands (cli_msg.c), called from main in cli.c. */
#ifndef MM_CLI_H
#define MM_CLI_H

/* mqttmux sub / mqttmux pub: argv[0] is the command; <dir> the runtime_dir. Exit codes. */
int mm_cli_sub(const char *dir, int argc, char **argv);
int mm_cli_pub(const char *dir, int argc, char **argv);

#endif /* MM_CLI_H */
