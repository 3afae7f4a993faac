"""lifecircle's planners' web app: ``streamlit run app_streamlit.py`` (or ``lifecircle app``)."""

from webapp.main import main

main()
