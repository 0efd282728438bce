# The skills server serves the skill library (naut_skills) and runs skills through its runtime.
target_link_libraries(naut_envs PUBLIC naut_skills)
