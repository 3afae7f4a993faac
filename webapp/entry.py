"""Script that ``streamlit run`` executes (``app_streamlit.py`` at the root does the same)."""

from webapp.main import main

main()
